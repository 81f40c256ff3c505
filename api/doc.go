// Package api is Kazna's HTTP surface: routing, authentication, permissions, the JSON error model and the
// OpenAPI document. Handlers decode, call one application method and encode; no business rule lives here.
package api
