package auditexport

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Format is how records are written.
type Format string

// Formats.
const (
	// JSONLines writes one Record envelope per line.
	JSONLines Format = "jsonl"
	// CloudEvents writes one CloudEvents 1.0 event in structured mode
	// (application/cloudevents+json) per line; a webhook batch is a JSON array
	// (application/cloudevents-batch+json).
	CloudEvents Format = "cloudevents"
)

// ParseFormat reads a --format value.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case JSONLines, CloudEvents:
		return Format(s), nil
	}
	return "", fmt.Errorf("format %q: use jsonl or cloudevents", s)
}

// CloudEvents content types.
const (
	ContentTypeCloudEvent      = "application/cloudevents+json"
	ContentTypeCloudEventBatch = "application/cloudevents-batch+json"
	ContentTypeJSONLines       = "application/x-ndjson"
)

// eventTypes maps a record kind to its CloudEvents type, and back.
var eventTypes = map[string]string{
	KindTransaction: "dev.pemba.audit.transaction.v1",
	KindDecision:    "dev.pemba.decision.v1",
}

// cloudEvent is a record as a structured-mode CloudEvent. The chain travels in
// extension attributes (lower-case letters and digits, as the specification asks);
// pembaseq is a String because a CloudEvents Integer is only 32 bits.
type cloudEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	PembaSeq        string          `json:"pembaseq"`
	PembaPrev       string          `json:"pembaprev"`
	PembaHash       string          `json:"pembahash"`
	Data            json.RawMessage `json:"data"`
}

// eventSource is the CloudEvents source of a record: its tenant within Pemba.
func eventSource(data []byte) (source, subject, at string) {
	var head struct {
		Tenant      string `json:"tenant"`
		Token       string `json:"token"`
		CommittedAt string `json:"committed_at"`
		DecidedAt   string `json:"decided_at"`
	}
	_ = json.Unmarshal(data, &head) // data was produced by Canonical: an object
	tenant := head.Tenant
	if tenant == "" {
		tenant = "default"
	}
	at = head.CommittedAt
	if at == "" {
		at = head.DecidedAt
	}
	return "/pemba/tenants/" + tenant, head.Token, at
}

// Encode returns the record as one line (without the newline) in format f.
func Encode(f Format, r Record) ([]byte, error) {
	var v any = r
	if f == CloudEvents {
		typ, ok := eventTypes[r.Kind]
		if !ok {
			return nil, fmt.Errorf("no CloudEvents type for record kind %q", r.Kind)
		}
		source, subject, at := eventSource(r.Data)
		v = cloudEvent{
			SpecVersion: "1.0", ID: r.Hash, Source: source, Type: typ, Subject: subject, Time: at,
			DataContentType: "application/json", PembaSeq: strconv.FormatUint(r.Seq, 10), PembaPrev: r.Prev, PembaHash: r.Hash, Data: r.Data,
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Decode reads one record in either format: a Record envelope, or a CloudEvent
// carrying the pemba chain attributes.
func Decode(line []byte) (Record, error) {
	var probe struct {
		SpecVersion *string `json:"specversion"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return Record{}, fmt.Errorf("not a JSON object: %w", err)
	}
	if probe.SpecVersion == nil {
		var r Record
		if err := json.Unmarshal(line, &r); err != nil {
			return Record{}, err
		}
		if r.Kind == "" || r.Hash == "" || r.Prev == "" || len(r.Data) == 0 {
			return Record{}, fmt.Errorf("not an exported record: seq, kind, prev, hash and data are required")
		}
		return r, nil
	}
	var e cloudEvent
	if err := json.Unmarshal(line, &e); err != nil {
		return Record{}, err
	}
	if e.SpecVersion != "1.0" {
		return Record{}, fmt.Errorf("CloudEvents specversion %q, want 1.0", e.SpecVersion)
	}
	kind := ""
	for k, t := range eventTypes {
		if t == e.Type {
			kind = k
		}
	}
	if kind == "" {
		return Record{}, fmt.Errorf("CloudEvents type %q is not a Pemba record", e.Type)
	}
	seq, err := strconv.ParseUint(e.PembaSeq, 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("CloudEvents pembaseq %q is not a sequence number", e.PembaSeq)
	}
	if e.PembaHash == "" || e.PembaPrev == "" || len(e.Data) == 0 {
		return Record{}, fmt.Errorf("CloudEvent without pembaprev, pembahash or data")
	}
	return Record{Seq: seq, Kind: kind, Prev: e.PembaPrev, Hash: e.PembaHash, Data: e.Data}, nil
}
