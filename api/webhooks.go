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
	if raw, ok := b["subscriptions"]; ok && !b.isNull("subscriptions") {
		if err := json.Unmarshal(raw, &n.Subscriptions); err != nil {
			return switchboard.Invalid("subscriptions", "subscriptions must be a list of event names")
		}
	}
	hook, err := s.store.CreateWebhook(r.Context(), c, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"payload": map[string]any{"webhook": webhookPayload(hook)}})
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
