package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pemba-authz/pemba/internal/auditexport"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// exportKinds are the --kind values of pemba audit export.
var exportKinds = map[string][]string{
	"audit":     {auditexport.KindTransaction},
	"decisions": {auditexport.KindDecision},
	"all":       {auditexport.KindTransaction, auditexport.KindDecision},
}

func newAuditExportCommand() *cobra.Command {
	var o *clientOptions
	var kind, format, file, webhook, since, until, org string
	var headers, tenants []string
	var allTenants, resume bool
	var batchSize, maxAttempts int
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Export the audit trail and decision log, oldest first, as a hash chain",
		Long: `Pull audit transactions (--kind audit, the default), decisions (--kind decisions)
or both (--kind all: transactions, then decisions) through the API and write them
oldest first as a hash chain: every record carries seq, prev and hash, and each hash
covers the one before it, so pemba audit verify names any record that was altered,
removed or moved. --format jsonl writes one record envelope per line; --format
cloudevents writes CloudEvents 1.0 in structured mode, one event per line (a webhook
batch is an application/cloudevents-batch+json array).

Records go to stdout, to --file, or to --webhook URL in batches of --batch-size,
each POST retried with exponential back-off (200 ms doubling to 30 s) up to
--max-attempts times. Delivery is at-least-once: receivers deduplicate by seq (or
the CloudEvents id, the record's hash). With --webhook, --file keeps a copy of what
the receiver accepted. --resume continues the chain of an existing --file: records
already in it are skipped, and new ones are appended.

--since, --until, --org, --all-tenants and --tenants narrow what is read, as in
pemba audit (--org applies to transactions only).`,
		Example: `  pemba audit export --since 24h > audit.jsonl
  pemba audit export --kind all --format cloudevents --file audit.ce.jsonl
  pemba audit export --file audit.jsonl --resume
  pemba audit export --webhook https://siem.example.com/pemba --webhook-header "Authorization: Bearer $TOKEN" --file sent.jsonl --resume`,
		Args: exactArgs(0, "what to export is chosen with flags such as --kind and --since"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			kinds, ok := exportKinds[kind]
			if !ok {
				return usageErrorf("--kind %q: use audit, decisions or all", kind)
			}
			f, err := auditexport.ParseFormat(format)
			if err != nil {
				return usageErrorf("--format: %v", err)
			}
			if len(tenants) > 0 && !allTenants {
				return usageErrorf("--tenants narrows an --all-tenants query: add --all-tenants, or use --tenant for one tenant")
			}
			if resume && file == "" {
				return usageErrorf("--resume continues the chain of --file: give --file")
			}
			if batchSize < 1 || batchSize > 10000 {
				return usageErrorf("--batch-size %d: give 1 to 10000", batchSize)
			}
			var hook *auditexport.Webhook
			if webhook != "" {
				u, err := url.Parse(webhook)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return usageErrorf("--webhook %q: give an http or https URL", webhook)
				}
				hook = &auditexport.Webhook{URL: webhook, Format: f, Header: http.Header{}, MaxAttempts: maxAttempts}
				for _, h := range headers {
					name, value, ok := strings.Cut(h, ":")
					if !ok || strings.TrimSpace(name) == "" {
						return usageErrorf("--webhook-header %q: give NAME: VALUE", redactHeader(h))
					}
					hook.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
				}
				hook.OnRetry = func(attempt int, err error, wait time.Duration) {
					fmt.Fprintf(cmd.ErrOrStderr(), "webhook attempt %d failed (%v); retrying in %s\n", attempt, err, wait)
				}
			}
			q := exportQuery{tenant: o.tenant, allTenants: allTenants, tenants: tenants}
			if allTenants {
				q.tenant = ""
			}
			now := timeNow()
			if q.since, err = parseTime("--since", since, now); err != nil {
				return err
			}
			if q.until, err = parseTime("--until", until, now); err != nil {
				return err
			}
			if org != "" {
				if q.org, err = parseObjectPattern("--org", org); err != nil {
					return err
				}
			}

			chain := &auditexport.Chain{}
			done := map[string]bool{}
			if resume {
				if chain, done, err = resumeExport(file); err != nil {
					return err
				}
			}
			var out io.Writer = cmd.OutOrStdout()
			if file != "" {
				fh, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
				if err != nil {
					return &ExitError{Code: exitError, Err: err}
				}
				defer fh.Close()
				if !resume {
					if st, err := fh.Stat(); err == nil && st.Size() > 0 {
						return usageErrorf("--file %s is not empty: add --resume to continue its chain, or choose a new file", file)
					}
				}
				out = fh
			} else if hook != nil {
				out = nil
			}
			return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
				client := pb.NewAuditServiceClient(conn)
				var pending []auditexport.Record
				var exported, skipped int
				flush := func() error {
					if len(pending) == 0 {
						return nil
					}
					if hook != nil {
						if err := hook.Send(ctx, pending); err != nil {
							return &ExitError{Code: exitError, Err: err}
						}
					}
					if out != nil {
						w := bufio.NewWriter(out)
						for _, r := range pending {
							line, err := auditexport.Encode(f, r)
							if err != nil {
								return err
							}
							w.Write(line)
							w.WriteByte('\n')
						}
						if err := w.Flush(); err != nil {
							return &ExitError{Code: exitError, Err: err}
						}
					}
					exported += len(pending)
					pending = pending[:0]
					return nil
				}
				for _, k := range kinds {
					records, err := q.read(ctx, client, k)
					if err != nil {
						return err
					}
					for _, data := range records {
						key, err := exportKey(k, data)
						if err != nil {
							return err
						}
						if done[key] {
							skipped++
							continue
						}
						r, err := chain.Append(k, data)
						if err != nil {
							return err
						}
						done[key] = true
						if pending = append(pending, r); len(pending) >= batchSize {
							if err := flush(); err != nil {
								return err
							}
						}
					}
				}
				if err := flush(); err != nil {
					return err
				}
				next, last := chain.Cursor()
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d records (%d already exported skipped); chain at seq %d, last hash %s\n", exported, skipped, next, last)
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	fl := cmd.Flags()
	fl.StringVar(&kind, "kind", "audit", "what to export: audit, decisions or all")
	fl.StringVar(&format, "format", "jsonl", "jsonl (record envelopes) or cloudevents (CloudEvents 1.0 structured mode)")
	fl.StringVar(&file, "file", "", "write to this file instead of stdout (with --webhook: a copy of what was accepted)")
	fl.BoolVar(&resume, "resume", false, "continue the chain of --file, skipping records already in it")
	fl.StringVar(&webhook, "webhook", "", "POST batches to this http(s) URL")
	fl.StringArrayVar(&headers, "webhook-header", nil, "add this header to webhook requests, NAME: VALUE (repeatable; never printed)")
	fl.IntVar(&batchSize, "batch-size", 100, "records per webhook request and per write")
	fl.IntVar(&maxAttempts, "max-attempts", 10, "webhook attempts per batch before giving up (0: until interrupted)")
	fl.StringVar(&since, "since", "", "at or after: RFC 3339, a date, or an age such as 24h or 7d")
	fl.StringVar(&until, "until", "", "before: RFC 3339, a date, or an age")
	fl.StringVar(&org, "org", "", "transactions that acted through or on this organisation (TYPE:ID)")
	fl.BoolVar(&allTenants, "all-tenants", false, "read every tenant the key may use")
	fl.StringSliceVar(&tenants, "tenants", nil, "with --all-tenants, only these tenants (comma-separated)")
	return cmd
}

// redactHeader keeps a malformed header's name at most, so a secret typed in the
// wrong shape is not echoed.
func redactHeader(h string) string {
	if len(h) > 12 {
		return h[:12] + "…"
	}
	return h
}

// exportQuery is what pemba audit export reads.
type exportQuery struct {
	tenant       string
	allTenants   bool
	tenants      []string
	since, until *timestamppb.Timestamp
	org          *pb.ObjectReference
}

// read returns every matching record of kind as JSON, oldest first. The API pages
// newest first, so the pages are collected and reversed.
func (q exportQuery) read(ctx context.Context, client pb.AuditServiceClient, kind string) ([]json.RawMessage, error) {
	var newestFirst []any
	token := ""
	for {
		var next string
		if kind == auditexport.KindTransaction {
			res, err := client.ReadAuditLog(ctx, &pb.ReadAuditLogRequest{Tenant: q.tenant, AllTenants: q.allTenants, Tenants: q.tenants,
				Since: q.since, Until: q.until, Organization: q.org, PageToken: token})
			if err != nil {
				return nil, err
			}
			for _, tx := range res.GetTransactions() {
				newestFirst = append(newestFirst, transactionToJSON(tx))
			}
			next = res.GetNextPageToken()
		} else {
			res, err := client.ReadDecisions(ctx, &pb.ReadDecisionsRequest{Tenant: q.tenant, AllTenants: q.allTenants, Tenants: q.tenants,
				Since: q.since, Until: q.until, PageToken: token})
			if err != nil {
				return nil, err
			}
			for _, d := range res.GetDecisions() {
				newestFirst = append(newestFirst, decisionToJSON(d))
			}
			next = res.GetNextPageToken()
		}
		if next == "" {
			break
		}
		token = next
	}
	out := make([]json.RawMessage, 0, len(newestFirst))
	for i := len(newestFirst) - 1; i >= 0; i-- {
		raw, err := json.Marshal(newestFirst[i])
		if err != nil {
			return nil, err
		}
		out = append(out, raw)
	}
	return out, nil
}

// exportKey identifies a record across exports, so --resume skips what a file
// already holds: a transaction by tenant and revision token, a decision by its
// canonical content.
func exportKey(kind string, data []byte) (string, error) {
	if kind == auditexport.KindTransaction {
		var tx struct{ Tenant, Token string }
		if err := json.Unmarshal(data, &tx); err != nil {
			return "", err
		}
		return kind + "\x00" + tx.Tenant + "\x00" + tx.Token, nil
	}
	canon, err := auditexport.Canonical(data)
	return kind + "\x00" + string(canon), err
}

// resumeExport reads an existing export: it must verify, and its last record is
// where the chain continues.
func resumeExport(file string) (*auditexport.Chain, map[string]bool, error) {
	fh, err := os.Open(file)
	if errors.Is(err, os.ErrNotExist) {
		return &auditexport.Chain{}, map[string]bool{}, nil
	}
	if err != nil {
		return nil, nil, &ExitError{Code: exitError, Err: err}
	}
	defer fh.Close()
	rep, err := auditexport.Verify(fh)
	if err != nil {
		return nil, nil, &ExitError{Code: exitError, Err: fmt.Errorf("--resume: reading %s: %w", file, err)}
	}
	if !rep.OK() {
		return nil, nil, &ExitError{Code: exitError, Err: fmt.Errorf("--resume: %s does not verify (%s); run pemba audit verify %s", file, rep.Problems[0], file)}
	}
	done := map[string]bool{}
	if rep.Records == 0 {
		return &auditexport.Chain{}, done, nil
	}
	if _, err := fh.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		if len(strings.TrimSpace(sc.Text())) == 0 {
			continue
		}
		r, err := auditexport.Decode(sc.Bytes())
		if err != nil {
			return nil, nil, err
		}
		key, err := exportKey(r.Kind, r.Data)
		if err != nil {
			return nil, nil, err
		}
		done[key] = true
	}
	return auditexport.Resume(rep.Last, rep.LastHash), done, sc.Err()
}
