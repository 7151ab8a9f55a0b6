package auditexport

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
)

// maxLine bounds one exported record when verifying: a transaction with many
// changes is large, but not this large.
const maxLine = 16 << 20

// Problem is one defect Verify found, naming where.
type Problem struct {
	Line int    // 1-based line (for a JSON array: 1-based element)
	Seq  uint64 // the record's sequence number, when it could be read
	What string
}

func (p Problem) String() string { return fmt.Sprintf("line %d (seq %d): %s", p.Line, p.Seq, p.What) }

// Report is what Verify found.
type Report struct {
	Records    int // records read
	Duplicates int // identical records delivered more than once
	First      uint64
	Last       uint64
	LastHash   string
	Problems   []Problem
}

// OK says the chain is intact.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// Verify reads an exported file (JSON lines of records or CloudEvents, or one JSON
// array of CloudEvents as a webhook batch carries them) and checks the chain: every
// hash matches its record, every prev is the hash before it, and seq counts up by
// one. The first record's prev is trusted (an export may resume a longer chain);
// a record removed from the very end cannot be seen without knowing the last hash.
// An error is returned only when the input cannot be read at all.
func Verify(in io.Reader) (*Report, error) {
	br := bufio.NewReaderSize(in, 64<<10)
	lead, err := peekNonSpace(br)
	if err != nil && err != io.EOF {
		return nil, err
	}
	rep := &Report{}
	v := verifier{rep: rep}
	if lead == '[' {
		dec := json.NewDecoder(io.LimitReader(br, 1<<34))
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		for n := 1; dec.More(); n++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, fmt.Errorf("element %d: %w", n, err)
			}
			v.check(n, raw)
		}
		v.finish()
		return rep, nil
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		v.check(n, line)
	}
	if err := sc.Err(); err != nil {
		return rep, fmt.Errorf("reading line %d: %w", v.lastLine+1, err)
	}
	v.finish()
	return rep, nil
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

type verifier struct {
	rep      *Report
	started  bool
	maxSeq   uint64
	prevSeq  uint64
	prevHash string
	lastLine int
	seen     map[uint64]seenRecord
}

type seenRecord struct {
	line int
	hash string
}

func (v *verifier) problem(line int, seq uint64, format string, args ...any) {
	v.rep.Problems = append(v.rep.Problems, Problem{Line: line, Seq: seq, What: fmt.Sprintf(format, args...)})
}

func (v *verifier) check(line int, raw []byte) {
	v.lastLine = line
	r, err := Decode(raw)
	if err != nil {
		v.problem(line, 0, "unreadable record: %v", err)
		return
	}
	v.rep.Records++
	want, err := Hash(r.Prev, r.Seq, r.Kind, r.Data)
	switch {
	case err != nil:
		v.problem(line, r.Seq, "unreadable data: %v", err)
	case want != r.Hash:
		v.problem(line, r.Seq, "altered: the record's hash does not match its content")
	}
	if v.seen == nil {
		v.seen = map[uint64]seenRecord{}
	}
	if before, dup := v.seen[r.Seq]; dup {
		if before.hash == r.Hash {
			v.rep.Duplicates++ // at-least-once delivery may repeat a record
		} else {
			v.problem(line, r.Seq, "a different record with the same seq is at line %d", before.line)
		}
		return
	}
	v.seen[r.Seq] = seenRecord{line: line, hash: r.Hash}
	switch {
	case !v.started:
		v.started = true
		v.rep.First, v.maxSeq = r.Seq, r.Seq
		if r.Seq == 0 && r.Prev != ZeroHash {
			v.problem(line, r.Seq, "the first record of a chain must have prev %s", ZeroHash)
		}
	case r.Seq < v.maxSeq:
		v.problem(line, r.Seq, "out of order: seq %d comes after seq %d", r.Seq, v.maxSeq)
	case r.Seq == v.prevSeq+1 && r.Prev != v.prevHash:
		v.problem(line, r.Seq, "chain broken: prev is not the hash of seq %d (one of the two was altered or replaced)", v.prevSeq)
	}
	if r.Seq < v.rep.First {
		v.rep.First = r.Seq
	}
	if r.Seq > v.maxSeq {
		v.maxSeq = r.Seq
		v.rep.LastHash = r.Hash
	}
	if r.Seq == v.maxSeq {
		v.rep.Last, v.rep.LastHash = r.Seq, r.Hash
	}
	v.prevSeq, v.prevHash = r.Seq, r.Hash
}

// finish reports the sequence numbers between the first and the last that never
// appeared, naming the line after which each gap opens.
func (v *verifier) finish() {
	if !v.started {
		return
	}
	for s := v.rep.First; s <= v.maxSeq; s++ {
		if _, ok := v.seen[s]; ok {
			continue
		}
		end := s
		for end+1 <= v.maxSeq {
			if _, ok := v.seen[end+1]; ok {
				break
			}
			end++
		}
		after := v.seen[s-1] // s > First, so s-1 was seen
		next := v.seen[end+1]
		v.rep.Problems = append(v.rep.Problems, Problem{Line: next.line, Seq: end + 1,
			What: fmt.Sprintf("missing: %s, between line %d and line %d", seqRange(s, end), after.line, next.line)})
		s = end
	}
	sort.SliceStable(v.rep.Problems, func(i, j int) bool { return v.rep.Problems[i].Line < v.rep.Problems[j].Line })
}

func seqRange(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("seq %d", from)
	}
	return fmt.Sprintf("seq %d to %d (%d records)", from, to, to-from+1)
}
