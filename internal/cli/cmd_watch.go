package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newWatchCommand() *cobra.Command {
	var o *clientOptions
	var from string
	var filters []string
	var count int
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Stream committed transactions as they happen",
		Long: `Stream the tenant's committed transactions, in revision order: each with its
token, commit time, operation, API key (principal), acting subject, reason and
changes (+ created, ~ touched, - deleted). Without --from it starts with the next
transaction; with --from TOKEN it first replays every transaction after that token.
JSON output is one transaction per line.

It runs until interrupted (or until --count transactions were printed). When the
stream breaks, the error names the last token: pass it with --from to resume without
losing or repeating a transaction.`,
		Example: `  pemba watch
  pemba watch --from "$TOKEN" -o json
  pemba watch --filter 'organization#member' --filter document`,
		Args: exactArgs(0, "filters are --filter flags"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			req := &pb.WatchRequest{Tenant: o.tenant, AfterToken: from}
			for _, f := range filters {
				pf, err := parseFilter("--filter", f)
				if err != nil {
					return err
				}
				req.Filters = append(req.Filters, pf)
			}
			if count < 0 {
				return usageErrorf("--count %d is negative", count)
			}
			return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
				stream, err := pb.NewWatchServiceClient(conn).Watch(ctx, req)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				last, seen := from, 0
				err = recvAll(stream.Recv, func(m *pb.WatchResponse) error {
					last = m.GetToken()
					seen++
					tx := m.GetTransaction()
					if o.json() {
						if err := writeJSONLine(out, transactionToJSON(tx)); err != nil {
							return err
						}
					} else {
						writeTransactionText(out, tx)
					}
					if count > 0 && seen >= count {
						return errStop
					}
					return nil
				})
				if err != nil {
					err = o.rpcError(err)
					if last != "" {
						err = fmt.Errorf("%w; resume with: pemba watch --from %s", err, last)
						return &ExitError{Code: exitError, Err: err}
					}
					return err
				}
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().StringVar(&from, "from", "", "replay the transactions committed after this token first")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "only changes matching FILTER (TYPE[:ID][#RELATION][@SUBJECT]); repeatable")
	cmd.Flags().IntVar(&count, "count", 0, "stop after this many transactions (0: run until interrupted)")
	return cmd
}
