package api

import (
	"time"

	"github.com/switchboard/switchboard"
)

// The JSON shapes of Chatwoot's Application API for the records Switchboard
// serves. Fields marked ext in API.md are Switchboard's own.

type agentJSON struct {
	ID                 int64  `json:"id"`
	AccountID          int64  `json:"account_id"`
	Name               string `json:"name"`
	AvailableName      string `json:"available_name"`
	Email              string `json:"email"`
	Role               string `json:"role"`
	AvailabilityStatus string `json:"availability_status"`
	AutoOffline        bool   `json:"auto_offline"`
	Confirmed          bool   `json:"confirmed"`
	Thumbnail          string `json:"thumbnail"`
	CustomRoleID       *int64 `json:"custom_role_id"`
}

func agentPayload(a switchboard.Agent) agentJSON {
	return agentJSON{
		ID: a.ID, AccountID: a.AccountID, Name: a.Name, AvailableName: a.Name, Email: a.Email,
		Role: string(a.Role), AvailabilityStatus: string(a.Availability), AutoOffline: a.AutoOffline,
		Confirmed: true,
	}
}

func agentsPayload(agents []switchboard.Agent) []agentJSON {
	out := make([]agentJSON, 0, len(agents))
	for _, a := range agents {
		out = append(out, agentPayload(a))
	}
	return out
}

type accountJSON struct {
	ID                 int64  `json:"id"`
	Name               string `json:"name"`
	Role               string `json:"role"`
	Availability       string `json:"availability"`
	AvailabilityStatus string `json:"availability_status"`
	AutoOffline        bool   `json:"auto_offline"`
}

type userJSON struct {
	ID                 int64         `json:"id"`
	Name               string        `json:"name"`
	AvailableName      string        `json:"available_name"`
	DisplayName        string        `json:"display_name"`
	Email              string        `json:"email"`
	UID                string        `json:"uid"`
	Provider           string        `json:"provider"`
	Confirmed          bool          `json:"confirmed"`
	AccessToken        string        `json:"access_token"`
	AccountID          int64         `json:"account_id"`
	Role               string        `json:"role"`
	AvailabilityStatus string        `json:"availability_status"`
	Accounts           []accountJSON `json:"accounts"`
}

// userPayload is the signed-in user; account_id, role and availability_status
// describe the account given, or the first one when accountID is 0.
func userPayload(u switchboard.User, accountID int64) userJSON {
	out := userJSON{
		ID: u.ID, Name: u.Name, AvailableName: u.Name, DisplayName: u.Name, Email: u.Email,
		UID: u.Email, Provider: "email", Confirmed: true, AccessToken: u.AccessToken,
		Accounts: []accountJSON{},
	}
	for i, m := range u.Accounts {
		out.Accounts = append(out.Accounts, accountJSON{
			ID: m.AccountID, Name: m.AccountName, Role: string(m.Role), Availability: string(m.Availability),
			AvailabilityStatus: string(m.Availability), AutoOffline: m.AutoOffline,
		})
		if m.AccountID == accountID || (accountID == 0 && i == 0) {
			out.AccountID, out.Role, out.AvailabilityStatus = m.AccountID, string(m.Role), string(m.Availability)
		}
	}
	return out
}

type inboxJSON struct {
	ID                     int64          `json:"id"`
	AccountID              int64          `json:"account_id"`
	Name                   string         `json:"name"`
	ChannelType            string         `json:"channel_type"`
	WebhookURL             string         `json:"webhook_url"`
	EnableAutoAssignment   bool           `json:"enable_auto_assignment"`
	EnableAutoReassignment bool           `json:"enable_auto_reassignment"`
	AutoAssignmentConfig   map[string]any `json:"auto_assignment_config"`
	AssignmentMode         string         `json:"assignment_mode"`
}

func inboxPayload(in switchboard.Inbox) inboxJSON {
	out := inboxJSON{
		ID: in.ID, AccountID: in.AccountID, Name: in.Name, ChannelType: "Channel::Api", WebhookURL: in.WebhookURL,
		EnableAutoAssignment: in.EnableAutoAssignment, EnableAutoReassignment: in.EnableAutoReassignment,
		AutoAssignmentConfig: map[string]any{}, AssignmentMode: string(in.AssignmentMode),
	}
	if in.MaxAssignmentLimit > 0 {
		out.AutoAssignmentConfig["max_assignment_limit"] = in.MaxAssignmentLimit
	}
	return out
}

type messageJSON struct {
	ID             int64  `json:"id"`
	Content        string `json:"content"`
	ContentType    string `json:"content_type"`
	MessageType    int    `json:"message_type"`
	ConversationID int64  `json:"conversation_id"`
	CreatedAt      int64  `json:"created_at"`
}

type conversationMetaJSON struct {
	Sender       map[string]any `json:"sender"`
	Assignee     *agentJSON     `json:"assignee,omitempty"`
	Channel      string         `json:"channel"`
	HMACVerified bool           `json:"hmac_verified"`
}

type conversationJSON struct {
	ID                   int64                `json:"id"`
	AccountID            int64                `json:"account_id"`
	InboxID              int64                `json:"inbox_id"`
	Status               string               `json:"status"`
	CreatedAt            int64                `json:"created_at"`
	Timestamp            int64                `json:"timestamp"`
	LastActivityAt       int64                `json:"last_activity_at"`
	SnoozedUntil         *int64               `json:"snoozed_until"`
	WaitingSince         *int64               `json:"waiting_since"`
	QueuePosition        *int                 `json:"queue_position"`
	UnreadCount          int                  `json:"unread_count"`
	AgentLastSeenAt      int64                `json:"agent_last_seen_at"`
	ContactLastSeenAt    int64                `json:"contact_last_seen_at"`
	CanReply             bool                 `json:"can_reply"`
	Muted                bool                 `json:"muted"`
	Labels               []string             `json:"labels"`
	AdditionalAttributes map[string]any       `json:"additional_attributes"`
	CustomAttributes     map[string]any       `json:"custom_attributes"`
	Messages             []messageJSON        `json:"messages"`
	Meta                 conversationMetaJSON `json:"meta"`
}

func unix(t *time.Time) *int64 {
	if t == nil {
		return nil
	}
	s := t.Unix()
	return &s
}

func conversationPayload(c switchboard.Conversation) conversationJSON {
	out := conversationJSON{
		ID: c.ID, AccountID: c.AccountID, InboxID: c.InboxID, Status: string(c.Status),
		CreatedAt: c.CreatedAt.Unix(), Timestamp: c.LastActivityAt.Unix(), LastActivityAt: c.LastActivityAt.Unix(),
		SnoozedUntil: unix(c.SnoozedUntil), CanReply: true, Labels: []string{},
		AdditionalAttributes: map[string]any{}, CustomAttributes: map[string]any{},
		Messages: []messageJSON{},
		Meta:     conversationMetaJSON{Sender: map[string]any{}, Channel: "Channel::Api"},
	}
	if c.WaitingSince != nil {
		out.WaitingSince, out.QueuePosition = unix(c.WaitingSince), &c.QueuePosition
	}
	if c.SourceID != "" {
		out.AdditionalAttributes["source_id"] = c.SourceID
	}
	if c.ContactID != nil {
		out.Meta.Sender = map[string]any{"id": *c.ContactID, "type": "contact"}
	}
	if c.Assignee != nil {
		a := agentPayload(*c.Assignee)
		out.Meta.Assignee = &a
	}
	for _, m := range c.Messages {
		out.Messages = append(out.Messages, messageJSON{
			ID: m.ID, Content: m.Content, ContentType: "text", ConversationID: c.ID, CreatedAt: m.CreatedAt.Unix(),
		})
	}
	return out
}

type countsJSON struct {
	MineCount       int `json:"mine_count"`
	UnassignedCount int `json:"unassigned_count"`
	AssignedCount   int `json:"assigned_count"`
	AllCount        int `json:"all_count"`
}

func countsPayload(c switchboard.ConversationCounts) countsJSON {
	return countsJSON{MineCount: c.Mine, UnassignedCount: c.Unassigned, AssignedCount: c.Assigned, AllCount: c.All}
}

type eventJSON struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	FromAssigneeID *int64 `json:"from_assignee_id"`
	ToAssigneeID   *int64 `json:"to_assignee_id"`
	Reason         string `json:"reason"`
	ActorID        *int64 `json:"actor_id"`
	CreatedAt      int64  `json:"created_at"`
}

func eventPayload(e switchboard.AssignmentEvent) eventJSON {
	return eventJSON{
		ID: e.ID, ConversationID: e.ConversationID, FromAssigneeID: e.From, ToAssigneeID: e.To,
		Reason: string(e.Reason), ActorID: e.ActorID, CreatedAt: e.CreatedAt.Unix(),
	}
}
