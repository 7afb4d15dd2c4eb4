package api

import (
	"encoding/json"
	"net/http"

	"github.com/switchboard/switchboard"
)

type webhookJSON struct {
	ID            int64    `json:"id"`
	AccountID     int64    `json:"account_id"`
	URL           string   `json:"url"`
	Subscriptions []string `json:"subscriptions"`
	Secret        string   `json:"secret"`
}

func webhookPayload(w switchboard.Webhook) webhookJSON {
	return webhookJSON{ID: w.ID, AccountID: w.AccountID, URL: w.URL, Subscriptions: w.Subscriptions, Secret: w.Secret}
}

func (s *Server) listWebhooks(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	hooks, err := s.store.Webhooks(r.Context(), c)
	if err != nil {
		return err
	}
	out := make([]webhookJSON, 0, len(hooks))
	for _, h := range hooks {
		out = append(out, webhookPayload(h))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{"webhooks": out}})
}

func (s *Server) createWebhook(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	b, err := readBody(w, r, "webhook")
	if err != nil {
		return err
	}
	var n switchboard.NewWebhook
	if n.URL, _, err = b.str("url"); err != nil {
		return err
	}
	subs, err := subscriptionsOf(b)
	if err != nil {
		return err
	}
	if subs != nil {
		n.Subscriptions = *subs
	}
	hook, err := s.store.CreateWebhook(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{"webhook": webhookPayload(hook)}})
}

// updateWebhook changes a webhook's url or subscriptions, as Chatwoot's
// PATCH .../webhooks/{id} does; a field left out (or null) stays.
func (s *Server) updateWebhook(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "webhook")
	if err != nil {
		return err
	}
	b, err := readBody(w, r, "webhook")
	if err != nil {
		return err
	}
	var u switchboard.WebhookUpdate
	url, present, err := b.str("url")
	if err != nil {
		return err
	}
	if present {
		u.URL = &url
	}
	if u.Subscriptions, err = subscriptionsOf(b); err != nil {
		return err
	}
	hook, err := s.store.UpdateWebhook(r.Context(), c, id, u)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{"webhook": webhookPayload(hook)}})
}

// subscriptionsOf reads the subscriptions of a webhook's body: nil when
// left out or null.
func subscriptionsOf(b body) (*[]string, error) {
	raw, ok := b["subscriptions"]
	if !ok || b.isNull("subscriptions") {
		return nil, nil
	}
	var subs []string
	if err := json.Unmarshal(raw, &subs); err != nil {
		return nil, switchboard.Invalid("subscriptions", "subscriptions must be a list of event names")
	}
	return &subs, nil
}

func (s *Server) deleteWebhook(w http.ResponseWriter, r *http.Request, c switchboard.Caller) error {
	id, err := pathID(r, "id", "webhook")
	if err != nil {
		return err
	}
	if err := s.store.DeleteWebhook(r.Context(), c, id); err != nil {
		return err
	}
	return writeEmpty(w)
}
