package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// The OpenAPI document and the routes must agree: every route registered in
// server.go is documented, every documented operation is served, and the
// documented required request fields are the ones the handlers require.

// openAPIDoc fetches the document through the server and decodes it; the
// reply must be 200 JSON.
func openAPIDoc(t *testing.T, s *testServer) map[string]any {
	t.Helper()
	resp, err := s.srv.Client().Get(s.srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/openapi.json: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /api/openapi.json: Content-Type %q, want application/json", ct)
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("GET /api/openapi.json: not JSON: %v", err)
	}
	return doc
}

// openAPIVersion matches the OpenAPI 3 versions the document may declare.
var openAPIVersion = regexp.MustCompile(`^3\.(\d+)\.(\d+)$`)

func TestOpenAPIDocument(t *testing.T) {
	s := newServer(t)
	doc := openAPIDoc(t, s)

	version, _ := doc["openapi"].(string)
	m := openAPIVersion.FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("openapi %q, want 3.0.3 or a later 3.x", version)
	}
	minor, _ := strconv.Atoi(m[1])
	patch, _ := strconv.Atoi(m[2])
	if minor == 0 && patch < 3 {
		t.Errorf("openapi %q, want 3.0.3 or a later 3.x", version)
	}
	info, _ := doc["info"].(map[string]any)
	if info["title"] == nil || info["version"] == nil {
		t.Errorf("info %v lacks title or version", info)
	}
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		t.Fatal("the document has no paths")
	}

	// Every $ref points at something in the document.
	refs := 0
	openAPIWalk(doc, "#", func(at string, v map[string]any) {
		r, ok := v["$ref"]
		if !ok {
			return
		}
		refs++
		ref, ok := r.(string)
		if !ok {
			t.Errorf("%s: $ref %v is not a string", at, r)
			return
		}
		if _, err := openAPIResolve(doc, ref); err != nil {
			t.Errorf("%s: $ref %q: %v", at, ref, err)
		}
	})
	if refs == 0 {
		t.Error("the document has no $ref at all; its replies should name components/schemas")
	}
	for _, name := range []string{"Agent", "User", "Inbox", "Conversation", "AssignmentEvent", "Counts", "Error", "ValidationError"} {
		if _, err := openAPIResolve(doc, "#/components/schemas/"+name); err != nil {
			t.Errorf("components/schemas/%s: %v", name, err)
		}
	}
	var validation map[string]any
	if v, err := openAPIResolve(doc, "#/components/schemas/ValidationError"); err == nil {
		validation, _ = v.(map[string]any)
	}
	for _, field := range []string{"message", "attributes"} {
		if !slices.Contains(openAPIStrings(validation["required"]), field) {
			t.Errorf("ValidationError does not require %q", field)
		}
	}

	// The served document is the file beside the handlers, byte for byte.
	file, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	_, served := s.admin.do("GET", "/api/openapi.json", nil)
	if !bytes.Equal(file, served) {
		t.Error("GET /api/openapi.json does not serve api/openapi.json")
	}

	// Each operation has a unique operationId and documents a reply.
	ids := map[string]string{}
	for _, o := range documentedOperations(t, doc) {
		id, _ := o.op["operationId"].(string)
		if id == "" {
			t.Errorf("%s has no operationId", o)
		} else if other, dup := ids[id]; dup {
			t.Errorf("operationId %q is used by %s and %s", id, other, o)
		}
		ids[id] = o.String()
		if responses, _ := o.op["responses"].(map[string]any); len(responses) == 0 {
			t.Errorf("%s documents no responses", o)
		}
	}
}

// openAPIWalk calls f for every object in v, with its JSON pointer.
func openAPIWalk(v any, at string, f func(at string, v map[string]any)) {
	switch v := v.(type) {
	case map[string]any:
		f(at, v)
		for k, child := range v {
			openAPIWalk(child, at+"/"+strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"), f)
		}
	case []any:
		for i, child := range v {
			openAPIWalk(child, at+"/"+strconv.Itoa(i), f)
		}
	}
}

// openAPIResolve finds what a local $ref ("#/a/b") points at.
func openAPIResolve(doc map[string]any, ref string) (any, error) {
	rest, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, fmt.Errorf("not a reference within the document")
	}
	var cur any = doc
	if rest == "" {
		return cur, nil
	}
	if !strings.HasPrefix(rest, "/") {
		return nil, fmt.Errorf("not a JSON pointer")
	}
	for _, token := range strings.Split(rest[1:], "/") {
		token = strings.ReplaceAll(strings.ReplaceAll(token, "~1", "/"), "~0", "~")
		if t, err := url.PathUnescape(token); err == nil {
			token = t
		}
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[token]
			if !ok {
				return nil, fmt.Errorf("no %q", token)
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(token)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("no index %q", token)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("%q is inside a scalar", token)
		}
	}
	return cur, nil
}

// openAPIDeref follows $ref until it reaches something that is not a reference.
func openAPIDeref(t *testing.T, doc map[string]any, v any) map[string]any {
	t.Helper()
	for range 20 {
		m, _ := v.(map[string]any)
		ref, ok := m["$ref"].(string)
		if !ok {
			return m
		}
		next, err := openAPIResolve(doc, ref)
		if err != nil {
			t.Fatalf("$ref %q: %v", ref, err)
		}
		v = next
	}
	t.Fatal("$ref chain too long")
	return nil
}

func openAPIStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, item := range list {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// openAPIOperation is one documented path and method.
type openAPIOperation struct {
	method, path string
	op           map[string]any
}

func (o openAPIOperation) String() string { return o.method + " " + o.path }

var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func documentedOperations(t *testing.T, doc map[string]any) []openAPIOperation {
	t.Helper()
	paths, _ := doc["paths"].(map[string]any)
	var ops []openAPIOperation
	for path, item := range paths {
		item := openAPIDeref(t, doc, item)
		for _, method := range openAPIMethods {
			if op, ok := item[method].(map[string]any); ok {
				ops = append(ops, openAPIOperation{method: strings.ToUpper(method), path: path, op: op})
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].String() < ops[j].String() })
	return ops
}

// routeCall matches handle("METHOD /path", ...), account(...) and admin(...)
// in server.go.
var routeCall = regexp.MustCompile(`\b(handle|account|admin)\(\s*"([^"]*)"`)

// registeredRoutes reads the routes server.go registers, as "METHOD /path".
func registeredRoutes(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("server.go")
	if err != nil {
		t.Fatal(err)
	}
	var routes []string
	for _, m := range routeCall.FindAllStringSubmatch(string(src), -1) {
		kind, pattern := m[1], m[2]
		method, path, ok := strings.Cut(pattern, " ")
		if !ok {
			if pattern == "/" && kind == "handle" {
				continue // the catch-all
			}
			t.Errorf("server.go registers %s(%q) without a method; the document cannot describe it", kind, pattern)
			continue
		}
		if kind != "handle" {
			path = "/api/v1/accounts/{account_id}" + path
		}
		routes = append(routes, method+" "+path)
	}
	return routes
}

// goPathParam matches a path parameter of a pattern, {x} or {x...}.
var goPathParam = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	s := newServer(t)
	doc := openAPIDoc(t, s)

	documented := map[string]bool{}
	for _, o := range documentedOperations(t, doc) {
		documented[o.String()] = true
	}
	routes := registeredRoutes(t)
	// A regexp that finds nothing would pass vacuously: the API has more than
	// a handful of routes, and these are among them.
	if len(routes) < 10 {
		t.Fatalf("found only %d routes in server.go: %v", len(routes), routes)
	}
	for _, want := range []string{"GET /healthz", "POST /api/v1/accounts/{account_id}/conversations", "GET /api/v1/accounts/{account_id}/agents"} {
		if !slices.Contains(routes, want) {
			t.Fatalf("routes read from server.go lack %q: %v", want, routes)
		}
	}

	registered := map[string]bool{}
	for _, route := range routes {
		registered[route] = true
		// OpenAPI has no {x...}; a wildcard is documented as {x}.
		route = goPathParam.ReplaceAllString(route, "{$1}")
		if !documented[route] {
			t.Errorf("%s is registered in server.go but not documented in openapi.json", route)
		}
	}
	for op := range documented {
		if !registered[op] {
			t.Errorf("%s is documented in openapi.json but not registered in server.go", op)
		}
	}

	// Each path parameter is declared, on the operation or its path.
	paths, _ := doc["paths"].(map[string]any)
	for _, o := range documentedOperations(t, doc) {
		item := openAPIDeref(t, doc, paths[o.path])
		declared := map[string]bool{}
		for _, list := range []any{item["parameters"], o.op["parameters"]} {
			params, _ := list.([]any)
			for _, p := range params {
				p := openAPIDeref(t, doc, p)
				if p["in"] == "path" {
					declared[fmt.Sprint(p["name"])] = true
				}
			}
		}
		for _, m := range goPathParam.FindAllStringSubmatch(o.path, -1) {
			if !declared[m[1]] {
				t.Errorf("%s: path parameter %q is not declared", o, m[1])
			}
		}
	}
}

// isNoRoute reports whether a reply is the catch-all's "no route" 404 or the
// mux's 405, that is, whether no handler of the API served the request.
func isNoRoute(status int, body []byte) bool {
	if status == http.StatusMethodNotAllowed {
		return true
	}
	var reply struct {
		Error string `json:"error"`
	}
	json.Unmarshal(body, &reply)
	return status == http.StatusNotFound && strings.HasPrefix(reply.Error, "no route for ")
}

func TestOpenAPIEveryDocumentedRouteIsServed(t *testing.T) {
	s := newServer(t)
	doc := openAPIDoc(t, s)

	// The check below can tell the catch-all from a handler.
	if status, body := s.admin.do("GET", "/api/v1/accounts/1/no_such_resource", nil); !isNoRoute(status, body) {
		t.Fatalf("an unknown path answered %d %s; the catch-all's reply is not recognised", status, body)
	}
	if status, body := s.admin.do("PATCH", "/healthz", nil); !isNoRoute(status, body) {
		t.Fatalf("an unknown method answered %d %s; the catch-all's reply is not recognised", status, body)
	}

	ops := documentedOperations(t, doc)
	// Sign out last: it ends nothing the admin's token needs, but need not be
	// relied on.
	sort.SliceStable(ops, func(i, j int) bool {
		return ops[i].path != "/auth/sign_out" && ops[j].path == "/auth/sign_out"
	})
	if len(ops) == 0 {
		t.Fatal("no operations documented")
	}
	for _, o := range ops {
		path := goPathParam.ReplaceAllStringFunc(o.path, func(p string) string {
			if p == "{account_id}" {
				return "1"
			}
			return "999999"
		})
		var body any
		if o.op["requestBody"] != nil {
			body = "{}"
		}
		status, reply := s.admin.do(o.method, path, body)
		if isNoRoute(status, reply) {
			t.Errorf("%s (%s %s) is documented but not served: %d %s", o, o.method, path, status, reply)
		}
		if status >= 500 && o.path != "/readyz" {
			t.Errorf("%s (%s %s): %d %s", o, o.method, path, status, reply)
		}
	}
}

// openAPIRequestSchema returns the documented JSON request body schema of an
// operation, with its required fields and its properties.
func openAPIRequestSchema(t *testing.T, doc map[string]any, method, path string) (required []string, properties map[string]any) {
	t.Helper()
	paths, _ := doc["paths"].(map[string]any)
	item := openAPIDeref(t, doc, paths[path])
	op, _ := item[strings.ToLower(method)].(map[string]any)
	if op == nil {
		t.Fatalf("%s %s is not documented", method, path)
	}
	rb := openAPIDeref(t, doc, op["requestBody"])
	content, _ := rb["content"].(map[string]any)
	media, _ := content["application/json"].(map[string]any)
	if media == nil {
		t.Fatalf("%s %s documents no application/json request body", method, path)
	}
	schema := openAPIDeref(t, doc, media["schema"])
	properties, _ = schema["properties"].(map[string]any)
	return openAPIStrings(schema["required"]), properties
}

// TestOpenAPIRequiredFields checks, for a few endpoints, that the documented
// required request fields are exactly those the handler requires: leaving out
// a documented required field is 422 naming it, and leaving out any other
// field of a valid body still succeeds.
func TestOpenAPIRequiredFields(t *testing.T) {
	s := newServer(t)
	doc := openAPIDoc(t, s)

	agent := s.newAgent("agent", "online")
	inbox := s.newInbox(nil, agent)
	conv := s.admin.create(inbox, nil)
	platform := client{s: s, token: platformToken}
	var platformUser struct {
		ID int64 `json:"id"`
	}
	platform.must(200, "POST", "/platform/api/v1/users", map[string]any{
		"name": "Platform User", "email": "platform-user@example.com", "password": "password123",
	}, &platformUser)

	seq := 0
	email := func() string {
		seq++
		return fmt.Sprintf("openapi%d@example.com", seq)
	}
	cases := []struct {
		method, path string // the documented path
		call         string // the path called
		as           client
		body         func() map[string]any // a valid body with every required field
	}{
		{"POST", "/api/v1/accounts/{account_id}/conversations", acct("/conversations"), s.admin, func() map[string]any {
			return map[string]any{"inbox_id": inbox, "source_id": "visitor", "status": "open", "message": map[string]any{"content": "hi"}}
		}},
		{"POST", "/api/v1/accounts/{account_id}/agents", acct("/agents"), s.admin, func() map[string]any {
			return map[string]any{"name": "Grace", "email": email(), "role": "agent", "availability": "online", "auto_offline": true, "password": "password123"}
		}},
		{"POST", "/api/v1/accounts/{account_id}/inboxes", acct("/inboxes"), s.admin, func() map[string]any {
			return map[string]any{"name": "Sales", "channel": map[string]any{"type": "api"}, "enable_auto_assignment": true, "assignment_mode": "balanced"}
		}},
		{"POST", "/api/v1/accounts/{account_id}/inbox_members", acct("/inbox_members"), s.admin, func() map[string]any {
			return map[string]any{"inbox_id": inbox, "user_ids": []any{agent.id}}
		}},
		{"POST", "/api/v1/accounts/{account_id}/conversations/{id}/assignments", acct("/conversations/%d/assignments", conv.ID), s.admin, func() map[string]any {
			return map[string]any{"assignee_id": agent.id}
		}},
		{"POST", "/api/v1/accounts/{account_id}/webhooks", acct("/webhooks"), s.admin, func() map[string]any {
			return map[string]any{"url": "https://example.com/hook", "subscriptions": []string{"assignee_changed"}}
		}},
		{"POST", "/api/v1/profile/availability", "/api/v1/profile/availability", s.admin, func() map[string]any {
			return map[string]any{"availability": "online", "account_id": 1}
		}},
		{"POST", "/auth/sign_in", "/auth/sign_in", client{s: s}, func() map[string]any {
			return map[string]any{"email": adminEmail, "password": adminPassword}
		}},
		{"POST", "/platform/api/v1/accounts", "/platform/api/v1/accounts", platform, func() map[string]any {
			return map[string]any{"name": "Globex"}
		}},
		{"POST", "/platform/api/v1/users", "/platform/api/v1/users", platform, func() map[string]any {
			return map[string]any{"name": "Hopper", "email": email(), "password": "password123"}
		}},
		{"POST", "/platform/api/v1/accounts/{id}/account_users", "/platform/api/v1/accounts/1/account_users", platform, func() map[string]any {
			return map[string]any{"user_id": platformUser.ID, "role": "agent"}
		}},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			required, properties := openAPIRequestSchema(t, doc, c.method, c.path)
			valid := c.body()
			for _, field := range required {
				if _, ok := valid[field]; !ok {
					t.Fatalf("the test's valid body %v lacks documented required field %q", valid, field)
				}
				if _, ok := properties[field]; !ok {
					t.Errorf("required field %q is not among the documented properties", field)
				}
			}
			for field := range valid {
				if _, ok := properties[field]; !ok {
					t.Errorf("field %q of the valid body is not among the documented properties", field)
				}
			}
			c.as.must(200, c.method, c.call, c.body(), nil)

			for field := range valid {
				body := c.body()
				delete(body, field)
				status, reply := c.as.do(c.method, c.call, body)
				if !slices.Contains(required, field) {
					if status != http.StatusOK {
						t.Errorf("without optional %q: %d %s, want 200", field, status, reply)
					}
					continue
				}
				var invalid struct {
					Attributes []string `json:"attributes"`
				}
				json.Unmarshal(reply, &invalid)
				if status != http.StatusUnprocessableEntity || !slices.Contains(invalid.Attributes, field) {
					t.Errorf("without required %q: %d %s, want 422 naming it", field, status, reply)
				}
			}
		})
	}
}
