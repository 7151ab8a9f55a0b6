package auditexport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// Record kinds.
const (
	KindTransaction = "audit.transaction"
	KindDecision    = "decision"
)

// ZeroHash is the prev of the first record of a chain.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// chainDomain separates Pemba's chain hashes from any other use of SHA-256 over
// the same bytes.
const chainDomain = "pemba-chain-v1"

// Record is one exported record: an envelope around the data with its place in the
// chain.
type Record struct {
	Seq  uint64          `json:"seq"`
	Kind string          `json:"kind"`
	Prev string          `json:"prev"`
	Hash string          `json:"hash"`
	Data json.RawMessage `json:"data"`
}

// Canonical returns data in the canonical form the chain hashes (see the package
// documentation). It is an error when data is not one JSON object.
func Canonical(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("data is not JSON: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("data holds more than one JSON value")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("data is not a JSON object")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// encoding/json writes map keys sorted and json.Number as written.
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Hash computes the chain hash of a record from its prev, seq, kind and data.
func Hash(prev string, seq uint64, kind string, data []byte) (string, error) {
	canon, err := Canonical(data)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, part := range [][]byte{[]byte(chainDomain), []byte(prev), []byte(strconv.FormatUint(seq, 10)), []byte(kind)} {
		h.Write(part)
		h.Write([]byte{0})
	}
	h.Write(canon)
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Chain links records as they are exported. The zero value starts a new chain;
// Resume continues one.
type Chain struct {
	next uint64
	prev string
}

// Resume continues a chain after the record with sequence number seq and hash hash.
func Resume(seq uint64, hash string) *Chain { return &Chain{next: seq + 1, prev: hash} }

// Cursor is where the chain stands: the next sequence number and the last hash
// (ZeroHash before the first record).
func (c *Chain) Cursor() (next uint64, last string) {
	if c.prev == "" {
		return c.next, ZeroHash
	}
	return c.next, c.prev
}

// Append seals data of the given kind as the next record of the chain. data is
// marshalled with encoding/json unless it already is a json.RawMessage.
func (c *Chain) Append(kind string, data any) (Record, error) {
	raw, ok := data.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(data); err != nil {
			return Record{}, fmt.Errorf("encoding %s record: %w", kind, err)
		}
	}
	canon, err := Canonical(raw)
	if err != nil {
		return Record{}, fmt.Errorf("%s record: %w", kind, err)
	}
	_, prev := c.Cursor()
	hash, err := Hash(prev, c.next, kind, canon)
	if err != nil {
		return Record{}, err
	}
	r := Record{Seq: c.next, Kind: kind, Prev: prev, Hash: hash, Data: canon}
	c.next++
	c.prev = hash
	return r, nil
}
