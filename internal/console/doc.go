// Package console serves Pemba's web console at /console: an admin portal for the
// people who run delegated administration (a customer organisation's own admins, a
// partner's manager), signed in through OpenID Connect.
//
// The console holds no authority of its own. Every read and write goes through the
// server's v1 services over the REST gateway's in-process connection, and every call
// made for a signed-in person names them as the acting subject, so the schema's grant
// rules decide each write exactly as they would for an API call on that person's
// behalf. A refusal of the API is shown to the person as the API gave it. Platform
// operators may sign in with an admin key instead; their calls carry that key.
//
// Pages are rendered on the server from embedded templates; the stylesheet and the
// one small script are embedded too, and the Content-Security-Policy allows nothing
// else (no inline script or style, no other origin).
package console
