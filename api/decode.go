package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchboard/switchboard"
)

// maxBodyBytes bounds a request body; the API's bodies are a few hundred bytes.
const maxBodyBytes = 1 << 20

// body is a decoded JSON request object, read field by field so that every
// error names its field and "absent" differs from "null" and from zero.
type body map[string]json.RawMessage

// readBody decodes a request's JSON object. A body wrapped the Rails way
// ({"agent": {...}} for wrapper "agent") is accepted like a bare one; fields
// inside the wrapper win over fields beside it. An empty body is an empty
// object.
func readBody(w http.ResponseWriter, r *http.Request, wrapper string) (body, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, switchboard.Errorf(switchboard.EMALFORMED, "request body is larger than %d bytes", maxBodyBytes)
		}
		return nil, switchboard.Errorf(switchboard.EMALFORMED, "request body could not be read")
	}
	b := body{}
	if len(bytes.TrimSpace(data)) == 0 {
		return b, nil
	}
	if !utf8.Valid(data) {
		// JSON is UTF-8 (RFC 8259); encoding/json would store each bad
		// byte as U+FFFD, not what was sent.
		return nil, switchboard.Errorf(switchboard.EMALFORMED, "request body must be UTF-8")
	}
	if err := json.Unmarshal(data, &b); err != nil || b == nil {
		return nil, switchboard.Errorf(switchboard.EMALFORMED, "request body must be a JSON object")
	}
	if wrapper != "" {
		if inner, ok := b[wrapper]; ok {
			var wrapped body
			if json.Unmarshal(inner, &wrapped) == nil && wrapped != nil {
				delete(b, wrapper)
				for k, v := range wrapped {
					b[k] = v
				}
			}
		}
	}
	return b, nil
}

// isNull reports whether the field is present and null.
func (b body) isNull(name string) bool {
	raw, ok := b[name]
	return ok && string(bytes.TrimSpace(raw)) == "null"
}

// id reads an id: a JSON number or a string of digits, as Rails accepts.
func (b body) id(name string) (id int64, present bool, err error) {
	raw, ok := b[name]
	if !ok || b.isNull(name) {
		return 0, false, nil
	}
	id, err = parseID(raw, name)
	return id, true, err
}

// requiredID reads an id that must be present.
func (b body) requiredID(name string) (int64, error) {
	id, ok, err := b.id(name)
	if err == nil && !ok {
		err = switchboard.Invalid(name, "%s is required", name)
	}
	return id, err
}

func parseID(raw json.RawMessage, name string) (int64, error) {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		s = string(bytes.TrimSpace(raw))
	}
	id, ok := digitsID(s)
	if !ok {
		return 0, switchboard.Invalid(name, "%s must be a positive integer id", name)
	}
	return id, nil
}

// digitsID reads an id written in decimal digits only: no sign, no space,
// as API.md says ("strings of digits"), which strconv alone would let
// through ("+5").
func digitsID(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(s, 10, 64)
	return id, err == nil && id > 0
}

// ids reads a list of ids.
func (b body) ids(name string) (ids []int64, present bool, err error) {
	raw, ok := b[name]
	if !ok {
		return nil, false, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil || items == nil {
		return nil, true, switchboard.Invalid(name, "%s must be a list of ids", name)
	}
	ids = make([]int64, 0, len(items))
	for _, item := range items {
		id, err := parseID(item, name)
		if err != nil {
			return nil, true, err
		}
		ids = append(ids, id)
	}
	return ids, true, nil
}

// str reads a string. A NUL character is refused: PostgreSQL cannot store
// one in text (and no name, address or message needs it).
func (b body) str(name string) (s string, present bool, err error) {
	raw, ok := b[name]
	if !ok || b.isNull(name) {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", true, switchboard.Invalid(name, "%s must be a string", name)
	}
	if strings.ContainsRune(s, 0) {
		return "", true, switchboard.Invalid(name, "%s must not contain a NUL character", name)
	}
	return s, true, nil
}

// boolean reads true or false; the strings "true" and "false" count too, as
// form-minded clients send them.
func (b body) boolean(name string) (v bool, present bool, err error) {
	raw, ok := b[name]
	if !ok || b.isNull(name) {
		return false, false, nil
	}
	if json.Unmarshal(raw, &v) == nil {
		return v, true, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, true, nil
		case "false":
			return false, true, nil
		}
	}
	return false, true, switchboard.Invalid(name, "%s must be true or false", name)
}

// object reads a nested JSON object.
func (b body) object(name string) (o body, present bool, err error) {
	raw, ok := b[name]
	if !ok || b.isNull(name) {
		return nil, false, nil
	}
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, true, switchboard.Invalid(name, "%s must be an object", name)
	}
	return o, true, nil
}

// optStr, optBool and friends return a pointer that is nil when the field is
// absent, for the update structs.
func optStr(b body, name string) (*string, error) {
	s, ok, err := b.str(name)
	if !ok || err != nil {
		return nil, err
	}
	return &s, nil
}

func optBool(b body, name string) (*bool, error) {
	v, ok, err := b.boolean(name)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// pathID reads an id from the URL path; anything else is not found, as no
// record has it.
func pathID(r *http.Request, name, what string) (int64, error) {
	id, ok := digitsID(r.PathValue(name))
	if !ok {
		return 0, switchboard.NotFound(what)
	}
	return id, nil
}

// firstErr returns the first non-nil error, so a handler can read several
// fields and report the first that is wrong.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func errorsAs(err error) (*switchboard.Error, bool) {
	return errors.AsType[*switchboard.Error](err)
}

// within names err's fields as those of the object parent (a field
// "content" of "message" is "message.content"), so that an error about a
// field of a nested object names it as the request does.
func within(parent string, err error) error {
	e, ok := errorsAs(err)
	if !ok || e.Code != switchboard.EINVALID {
		return err
	}
	fields := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		fields[i] = parent + "." + f
	}
	return &switchboard.Error{Code: e.Code, Message: parent + "." + e.Message, Fields: fields}
}
