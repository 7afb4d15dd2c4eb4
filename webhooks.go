package switchboard

import (
	"net/url"
	"slices"
	"time"
)

// The webhook events an account can subscribe to.
const (
	EventConversationCreated = "conversation_created"
	EventConversationUpdated = "conversation_updated" // status or assignee changed
	EventAssigneeChanged     = "assignee_changed"     // (ext) one per change of assignee
)

// WebhookEvents are the events a webhook may subscribe to.
var WebhookEvents = []string{EventConversationCreated, EventConversationUpdated, EventAssigneeChanged}

// Webhook is an account's subscription to events, delivered by HTTP POST and
// signed with its secret.
type Webhook struct {
	ID            int64
	AccountID     int64
	URL           string
	Secret        string
	Subscriptions []string
	CreatedAt     time.Time
}

// NewWebhook is what an administrator gives to subscribe.
type NewWebhook struct {
	URL           string
	Subscriptions []string // all events when empty
}

// Validate reports the first field of w that is not allowed.
func (w *NewWebhook) Validate() error {
	if !isWebURL(w.URL) {
		return Invalid("url", "url must be an absolute http or https URL")
	}
	if len(w.Subscriptions) == 0 {
		w.Subscriptions = slices.Clone(WebhookEvents)
	}
	for _, s := range w.Subscriptions {
		if !slices.Contains(WebhookEvents, s) {
			return Invalid("subscriptions", "subscriptions may hold conversation_created, conversation_updated and assignee_changed")
		}
	}
	slices.Sort(w.Subscriptions)
	w.Subscriptions = slices.Compact(w.Subscriptions)
	return nil
}

// Delivery is one event waiting to be sent to one webhook.
type Delivery struct {
	ID       int64
	URL      string
	Secret   string
	Event    string
	Payload  []byte
	Attempts int
}

// isWebURL reports whether s is an absolute http or https URL of at most
// 2,000 bytes.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2000
}
