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
	if err := validWebhookURL(w.URL); err != nil {
		return err
	}
	var err error
	w.Subscriptions, err = webhookSubscriptions(w.Subscriptions)
	return err
}

// WebhookUpdate changes a webhook: the fields given, nil for unchanged.
type WebhookUpdate struct {
	URL           *string
	Subscriptions *[]string // all events when empty
}

// Validate reports the first field of u that is not allowed.
func (u *WebhookUpdate) Validate() error {
	if u.URL != nil {
		if err := validWebhookURL(*u.URL); err != nil {
			return err
		}
	}
	if u.Subscriptions != nil {
		subs, err := webhookSubscriptions(*u.Subscriptions)
		if err != nil {
			return err
		}
		u.Subscriptions = &subs
	}
	return nil
}

func validWebhookURL(s string) error {
	if !isWebURL(s) {
		return Invalid("url", "url must be an absolute http or https URL")
	}
	return nil
}

// webhookSubscriptions returns subs sorted without repeats (every event
// when empty), or the error of one that is not an event.
func webhookSubscriptions(subs []string) ([]string, error) {
	if len(subs) == 0 {
		return slices.Clone(WebhookEvents), nil
	}
	for _, s := range subs {
		if !slices.Contains(WebhookEvents, s) {
			return nil, Invalid("subscriptions", "subscriptions may hold conversation_created, conversation_updated and assignee_changed")
		}
	}
	subs = slices.Sorted(slices.Values(subs))
	return slices.Compact(subs), nil
}

// Delivery is one event waiting to be sent to one webhook.
type Delivery struct {
	ID int64
	// Webhook is the subscription it is sent for.
	Webhook int64
	// Conversation is the conversation of the event, whose deliveries to
	// a webhook keep their order; 0 when not known (made by an older
	// version).
	Conversation int64
	URL          string
	Secret       string
	Event        string
	Payload      []byte
	Attempts     int
	// Claim names the claim that took it, a number no other claim has:
	// its outcome is recorded only while it is still that claim's.
	Claim int64
}

// DeliveryOutcome is how one attempt to send a delivery went, or that it
// was not tried.
type DeliveryOutcome struct {
	ID int64
	// Error is what went wrong; empty when the receiver accepted it.
	Error string
	// Next is when to try again after an error or when untried; nil gives
	// a failed delivery up, and makes an untried one due at once.
	Next *time.Time
	// Untried is a delivery given back without an attempt (an earlier
	// event of its conversation failed, its turn ran out, or the sender
	// stopped): its attempts and last error stay as they were.
	Untried bool
	// Claim is the Claim of the delivery: the outcome is not recorded
	// once the delivery is no longer that claim's (its lease ended and
	// another claim took it, or the outcome was recorded already). Zero
	// records it whatever holds it.
	Claim int64
}

// isWebURL reports whether s is an absolute http or https URL of at most
// 2,000 bytes.
func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && len(s) <= 2000
}
