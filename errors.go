package switchboard

import (
	"errors"
	"fmt"
)

// Code classifies an Error; the HTTP layer maps each code to one status.
type Code string

// The error codes.
const (
	EMALFORMED    Code = "malformed"    // the request could not be read at all
	EUNAUTHORIZED Code = "unauthorized" // no or bad credentials
	EFORBIDDEN    Code = "forbidden"    // the caller's role may not do this
	ENOTFOUND     Code = "not_found"    // no such record, or not visible to the caller
	EINVALID      Code = "invalid"      // a field has a value that is not allowed
	ELIMITED      Code = "limited"      // too many attempts; try again later
	EUNAVAILABLE  Code = "unavailable"  // the database was too busy, or out of reach, to do it now; try again
	EINTERNAL     Code = "internal"     // anything else; its text is never shown
)

// Error is an error that the caller can be told about.
type Error struct {
	Code    Code
	Message string
	// Fields names the request fields that are at fault (EINVALID).
	Fields []string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an Error with code and a formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Code: EINVALID, Message: fmt.Sprintf(format, args...), Fields: []string{field}}
}

// NotFound returns an ENOTFOUND error for a kind of record.
func NotFound(what string) *Error {
	return Errorf(ENOTFOUND, "%s not found", what)
}

// ErrorCode returns the code of err's Error, or EINTERNAL when it has none.
func ErrorCode(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EINTERNAL
}
