// Package apitest checks responses of the management API against its
// OpenAPI 3.1 document with kin-openapi: the one validator of the api
// package's tests and of the conformance suite, which drives the built
// binary. It does not import api (whose in-package tests use it): callers
// pass api.Document and the API's base URL.
package apitest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// LoadDocument parses and validates the document, which must be OpenAPI
// 3.1.
func LoadDocument(raw []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(raw)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(loader.Context); err != nil {
		return nil, fmt.Errorf("api/openapi.json: %w", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		return nil, fmt.Errorf("api/openapi.json is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	return doc, nil
}

// Validator checks responses of one API server.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

var registerJSONL sync.Once

// New returns a validator of the responses of the API at base (its
// prefix included: https://host:port/api/v1) against the document raw.
func New(raw []byte, base string) (*Validator, error) {
	registerJSONL.Do(func() { openapi3filter.RegisterBodyDecoder("application/jsonl", jsonLines) })
	doc, err := LoadDocument(raw)
	if err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: base}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, err
	}
	return &Validator{doc: doc, router: router}, nil
}

// Check returns how a response departs from the document: a route of the
// document must answer a documented status with its headers and body; any
// other path a problem document (RFC 9457). Every response has
// Cache-Control: no-store and no CORS header.
func (v *Validator) Check(req *http.Request, resp *http.Response, body []byte) []error {
	var errs []error
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		errs = append(errs, fmt.Errorf("Cache-Control %q, want no-store", cc))
	}
	for k := range resp.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			errs = append(errs, fmt.Errorf("CORS header %s", k))
		}
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if resp.Header.Get("Content-Type") != "application/problem+json" {
			return append(errs, fmt.Errorf("no route in the document (%v), and %s is not a problem document", err, resp.Header.Get("Content-Type")))
		}
		var p any
		if err := json.Unmarshal(body, &p); err != nil {
			return append(errs, fmt.Errorf("problem body: %w", err))
		}
		if err := v.doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020()); err != nil {
			errs = append(errs, fmt.Errorf("the problem does not match its schema: %w", err))
		}
		return errs
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 resp.StatusCode,
		Header:                 resp.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		errs = append(errs, fmt.Errorf("the response does not match api/openapi.json: %w", err))
	}
	return errs
}

// jsonLines decodes a JSON Lines body into an array, for its schema.
func jsonLines(body io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
	out := []any{}
	sc := bufio.NewScanner(body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, sc.Err()
}
