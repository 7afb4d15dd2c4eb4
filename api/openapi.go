package api

import (
	_ "embed"
	"net/http"
)

// openAPI is the OpenAPI 3 document of the API, written by hand beside the
// handlers; a test checks that it and the routes agree.
//
//go:embed openapi.json
var openAPI []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPI)
	return err
}
