// Package switchboard holds the domain of Switchboard: the accounts, users,
// inboxes and conversations that routing works on, and the one error type that
// every layer speaks. It imports neither storage nor HTTP.
package switchboard

import (
	"strings"
	"time"
)

// Role is what a user may do in an account.
type Role string

// The roles of ROUTING.md.
const (
	RoleAgent         Role = "agent"
	RoleAdministrator Role = "administrator"
)

// ParseRole returns the role named s, or an invalid-field error for field.
func ParseRole(s, field string) (Role, error) {
	switch r := Role(s); r {
	case RoleAgent, RoleAdministrator:
		return r, nil
	}
	return "", Invalid(field, "%s must be agent or administrator", field)
}

// Availability is whether a user takes conversations right now, per account.
type Availability string

// The availabilities of ROUTING.md.
const (
	Online  Availability = "online"
	Busy    Availability = "busy"
	Offline Availability = "offline"
)

// ParseAvailability returns the availability named s. Chatwoot's web client
// says "available" for online, so that spelling is accepted too.
func ParseAvailability(s, field string) (Availability, error) {
	switch a := Availability(strings.ToLower(s)); a {
	case Online, Busy, Offline:
		return a, nil
	case "available":
		return Online, nil
	}
	return "", Invalid(field, "%s must be online, busy or offline", field)
}

// Status is where a conversation stands.
type Status string

// The conversation statuses.
const (
	StatusOpen     Status = "open"
	StatusPending  Status = "pending"
	StatusSnoozed  Status = "snoozed"
	StatusResolved Status = "resolved"
)

// ParseStatus returns the status named s.
func ParseStatus(s, field string) (Status, error) {
	switch st := Status(s); st {
	case StatusOpen, StatusPending, StatusSnoozed, StatusResolved:
		return st, nil
	}
	return "", Invalid(field, "%s must be open, pending, snoozed or resolved", field)
}

// Reason says who or what changed an assignee.
type Reason string

// The reasons an assignment event records.
const (
	ReasonManual   Reason = "manual"
	ReasonAuto     Reason = "auto"
	ReasonReassign Reason = "reassign"
)

// AssignmentMode says how auto-assignment chooses among the candidates.
type AssignmentMode string

// The assignment modes.
const (
	RoundRobin AssignmentMode = "round_robin" // the rotation's next candidate
	Balanced   AssignmentMode = "balanced"    // the candidate with the fewest open conversations
)

// ParseAssignmentMode returns the mode named s.
func ParseAssignmentMode(s, field string) (AssignmentMode, error) {
	switch m := AssignmentMode(s); m {
	case RoundRobin, Balanced:
		return m, nil
	}
	return "", Invalid(field, "%s must be round_robin or balanced", field)
}

// Account is one support organisation; every other record belongs to one.
type Account struct {
	ID   int64
	Name string
}

// User is a person who signs in, with their place in each of their accounts.
type User struct {
	ID          int64
	Name        string
	Email       string
	AccessToken string
	Accounts    []Membership
}

// CallerIn is the user as the caller of a request in accountID, from the
// memberships loaded with them: not found when they are not a user of that
// account, which hides the account from them.
func (u User) CallerIn(accountID int64) (Caller, error) {
	for _, m := range u.Accounts {
		if m.AccountID == accountID {
			return Caller{UserID: u.ID, AccountID: accountID, Role: m.Role}, nil
		}
	}
	return Caller{}, NotFound("account")
}

// Membership is a user's role and availability in one account.
type Membership struct {
	AccountID    int64
	AccountName  string
	Role         Role
	Availability Availability
	AutoOffline  bool
}

// Agent is a user as seen from one account: what the agents endpoints list and
// what a conversation's assignee is.
type Agent struct {
	ID           int64
	AccountID    int64
	Name         string
	Email        string
	Role         Role
	Availability Availability
	AutoOffline  bool
}

// Inbox is where conversations arrive. Its members are the users who have
// access to it.
type Inbox struct {
	ID                     int64
	AccountID              int64
	Name                   string
	WebhookURL             string
	EnableAutoAssignment   bool
	EnableAutoReassignment bool
	// MaxAssignmentLimit is how many open conversations of the inbox an agent
	// may hold before auto-assignment passes them by; 0 is no limit.
	MaxAssignmentLimit int
	AssignmentMode     AssignmentMode
}

// Conversation belongs to one inbox and has at most one assignee. ID is the
// number within the account (Chatwoot's display_id), which the API calls id.
type Conversation struct {
	ID           int64
	AccountID    int64
	InboxID      int64
	Status       Status
	Assignee     *Agent
	ContactID    *int64
	SourceID     string
	SnoozedUntil *time.Time
	// WaitingSince is set while the conversation waits in its inbox's queue
	// for an agent with room; QueuePosition is then its place (from 1).
	WaitingSince   *time.Time
	QueuePosition  int
	CreatedAt      time.Time
	LastActivityAt time.Time
	Messages       []Message
}

// Message is a message of a conversation; Switchboard keeps the one a
// conversation is created with.
type Message struct {
	ID        int64
	Content   string
	CreatedAt time.Time
}

// AssignmentEvent records one change of a conversation's assignee.
type AssignmentEvent struct {
	ID             int64
	ConversationID int64
	From           *int64
	To             *int64
	Reason         Reason
	ActorID        *int64
	CreatedAt      time.Time
}

// Caller is who makes a request inside an account.
type Caller struct {
	UserID    int64
	AccountID int64
	Role      Role
}

// IsAdministrator reports whether the caller administers the account.
func (c Caller) IsAdministrator() bool { return c.Role == RoleAdministrator }

// ChangeKind says what kind of record a Change is about.
type ChangeKind string

// The kinds of change that live consoles hear of.
const (
	ConversationChanged ChangeKind = "conversation" // created, assigned, status changed
	AgentChanged        ChangeKind = "agent"        // availability, role, added or removed
	InboxChanged        ChangeKind = "inbox"        // settings or members
)

// Change tells live consoles that a record they may show has changed. It
// carries ids only: a console reads what it may see through the usual rules.
type Change struct {
	Kind           ChangeKind
	AccountID      int64
	ConversationID int64 // the per-account id, for ConversationChanged
	InboxID        int64 // for ConversationChanged and InboxChanged
	UserID         int64 // for AgentChanged
}

// SessionCookie names the cookie that carries a console session; the API and
// the console both accept it.
const SessionCookie = "switchboard_session"
