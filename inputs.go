package switchboard

import (
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// The longest values accepted, in characters: a name (of a user, an inbox,
// an account) and a conversation's source id as a database column of
// Chatwoot's, a message as Chatwoot's limit on its content.
const (
	MaxNameLength     = 255
	MaxSourceIDLength = 255
	MaxMessageLength  = 150_000
)

// isControl reports a character that breaks or reorders the text it is
// shown in: a control character, a line or paragraph separator, or a
// bidirectional embedding, override or isolate (which could make a name
// display as another).
func isControl(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp) ||
		'\u202a' <= r && r <= '\u202e' || '\u2066' <= r && r <= '\u2069'
}

// ValidateName returns s without the spaces around it, or an error naming
// field when nothing visible is left, it holds a control character, or it
// is longer than MaxNameLength.
func ValidateName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	visible := strings.ContainsFunc(s, func(r rune) bool { return unicode.IsGraphic(r) && !unicode.IsSpace(r) })
	switch {
	case !visible:
		return "", Invalid(field, "%s must not be empty", field)
	case strings.ContainsFunc(s, isControl):
		return "", Invalid(field, "%s must not contain control characters such as line breaks", field)
	case utf8.RuneCountInString(s) > MaxNameLength:
		return "", Invalid(field, "%s must be at most %d characters long", field, MaxNameLength)
	}
	return s, nil
}

// NewAgent is what an administrator gives to add a user to an account.
type NewAgent struct {
	Name         string
	Email        string
	Role         Role
	Availability Availability // Offline when not given
	AutoOffline  bool
	// Password lets the new user sign in to the console; without it they use
	// their access token until someone sets one.
	Password string
}

// Validate reports the first field of a that is not allowed.
func (a *NewAgent) Validate() error {
	if a.Role == "" {
		a.Role = RoleAgent
	}
	if a.Availability == "" {
		a.Availability = Offline
	}
	var err error
	if a.Name, err = ValidateName("name", a.Name); err != nil {
		return err
	}
	a.Email = CanonicalEmail(a.Email)
	if err := ValidateEmail(a.Email); err != nil {
		return err
	}
	if a.Password != "" {
		if err := ValidatePassword(a.Password); err != nil {
			return err
		}
	}
	return nil
}

// AgentUpdate changes the fields of an agent that are not nil.
type AgentUpdate struct {
	Name         *string
	Role         *Role
	Availability *Availability
	AutoOffline  *bool
}

// Validate reports the first field of u that is not allowed.
func (u *AgentUpdate) Validate() error {
	if u.Name != nil {
		name, err := ValidateName("name", *u.Name)
		if err != nil {
			return err
		}
		u.Name = &name
	}
	return nil
}

// CanonicalEmail is the form in which an e-mail address is stored and
// looked up: its ASCII letters in lower case, so that Ann@Example.com and
// ann@example.com are one user, and a user signs in whatever case they
// type. Other letters keep their case, as the databases' own lowering in
// migration 0008 does (SQLite's lower() changes ASCII letters only).
func CanonicalEmail(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, strings.TrimSpace(s))
}

// ValidateEmail reports whether s is an e-mail address a user can have.
func ValidateEmail(s string) error {
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || len(s) > 254 {
		return Invalid("email", "email must be an address such as name@example.com")
	}
	return nil
}

// ValidatePassword reports whether s is a password a user can have.
func ValidatePassword(s string) error {
	// bcrypt reads at most 72 bytes; a longer password would be cut silently.
	if len(s) < 8 || len(s) > 72 {
		return Invalid("password", "password must be 8 to 72 bytes long")
	}
	return nil
}

// NewInbox is what an administrator gives to create an inbox.
type NewInbox struct {
	Name                   string
	WebhookURL             string
	EnableAutoAssignment   bool
	EnableAutoReassignment bool
	MaxAssignmentLimit     int            // 0: no limit
	AssignmentMode         AssignmentMode // RoundRobin when not given
}

// Validate reports the first field of i that is not allowed.
func (i *NewInbox) Validate() error {
	var err error
	if i.Name, err = ValidateName("name", i.Name); err != nil {
		return err
	}
	if i.WebhookURL != "" && !isWebURL(i.WebhookURL) {
		return Invalid("channel.webhook_url", "channel.webhook_url must be an absolute http or https URL")
	}
	if i.AssignmentMode == "" {
		i.AssignmentMode = RoundRobin
	}
	return validateLimit(i.MaxAssignmentLimit)
}

func validateLimit(limit int) error {
	if limit < 0 || limit > 100000 {
		return Invalid("auto_assignment_config.max_assignment_limit", "max_assignment_limit must be a positive number, or null for no limit")
	}
	return nil
}

// InboxUpdate changes the settings of an inbox that are not nil.
type InboxUpdate struct {
	Name                   *string
	EnableAutoAssignment   *bool
	EnableAutoReassignment *bool
	MaxAssignmentLimit     *int // 0 removes the limit
	AssignmentMode         *AssignmentMode
}

// Validate reports the first field of u that is not allowed.
func (u *InboxUpdate) Validate() error {
	if u.Name != nil {
		name, err := ValidateName("name", *u.Name)
		if err != nil {
			return err
		}
		u.Name = &name
	}
	if u.MaxAssignmentLimit != nil {
		return validateLimit(*u.MaxAssignmentLimit)
	}
	return nil
}

// NewConversation is what a caller gives to create a conversation.
type NewConversation struct {
	InboxID    int64
	Status     Status // StatusOpen when not given
	AssigneeID *int64 // an explicit assignee, kept as given
	ContactID  *int64
	SourceID   string
	Message    string
	// Key, when set, makes the create happen once (PostgreSQL): a create
	// with the key of a conversation already stored makes nothing and
	// answers with that conversation. A process sets it on the creates it
	// sends to an inbox's leader, so that it can make one itself when it
	// cannot tell whether the leader did.
	Key string
}

// Validate reports the first field of n that is not allowed. (The inbox
// and the assignee are the store's to check.)
func (n *NewConversation) Validate() error {
	if n.Status == "" {
		n.Status = StatusOpen
	}
	if utf8.RuneCountInString(n.SourceID) > MaxSourceIDLength {
		return Invalid("source_id", "source_id must be at most %d characters long", MaxSourceIDLength)
	}
	if utf8.RuneCountInString(n.Message) > MaxMessageLength {
		return Invalid("message.content", "message.content must be at most %d characters long", MaxMessageLength)
	}
	return nil
}

// ConversationFilter selects a page of the conversations a caller may see.
type ConversationFilter struct {
	AssigneeType string // me, unassigned, assigned or all
	Status       string // a Status, or "all"
	InboxID      *int64
	Page         int // from 1
}

// PageSize is the number of conversations in one page of a list.
const PageSize = 25

// ConversationCounts are the counts a conversation list reports beside its
// page, following the status and inbox filters but not the assignee type.
type ConversationCounts struct {
	Mine, Unassigned, Assigned, All int
}

// StatusChange is a request to change a conversation's status. A nil Status
// toggles open and resolved.
type StatusChange struct {
	Status       *Status
	SnoozedUntil *time.Time
}

// Validate reports a snooze until a time not after now: the conversation
// would not wake by itself (only those due within the last few days do).
// A time given with another status is ignored, as Chatwoot does.
func (ch StatusChange) Validate(now time.Time) error {
	if ch.Status != nil && *ch.Status == StatusSnoozed && ch.SnoozedUntil != nil && !ch.SnoozedUntil.After(now) {
		return Invalid("snoozed_until", "snoozed_until must be a time in the future")
	}
	return nil
}
