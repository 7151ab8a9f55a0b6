package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

// eraseJSON is the -o json output of pemba audit erase.
type eraseJSON struct {
	Subject               string `json:"subject"`
	Pseudonym             string `json:"pseudonym"`
	DecisionsDeleted      uint64 `json:"decisions_deleted"`
	TransactionsRewritten uint64 `json:"transactions_rewritten"`
	Token                 string `json:"token"`
}

func newAuditEraseCommand() *cobra.Command {
	var o *clientOptions
	var reason string
	cmd := &cobra.Command{
		Use:   "erase SUBJECT",
		Short: "Erase a subject's identifiers from the decision log and the audit trail",
		Long: `Erase a person's (or any subject object's) identifiers on request: the decisions
about SUBJECT are deleted from the decision log, and in the audit trail every
occurrence of SUBJECT becomes its pseudonym, TYPE:pseudonym-<32 hex digits>, derived
with HMAC-SHA256 under the server's erasure secret, so the same subject always gets
the same pseudonym and the facts (who granted what, when, why) stay. The erasure is
itself in the audit trail (operation erase), naming only the pseudonym.

The subject must no longer be named by any relationship: offboard it first. Needs an
admin key and a server started with --erasure-secret-file. Export chains written
before the erasure keep the identifier; see docs/audit.md.`,
		Example: `  pemba offboard user:bob --reason "account closed"
  pemba audit erase user:bob --reason "GDPR request #4711"`,
		Args: exactArgs(1, "the subject to erase, such as user:bob"),
		RunE: func(cmd *cobra.Command, args []string) error {
			subject, err := parseObjectArg("SUBJECT", args[0])
			if err != nil {
				return err
			}
			return o.withConn(cmd, false, func(ctx context.Context, conn *grpc.ClientConn) error {
				res, err := pb.NewAuditServiceClient(conn).EraseSubject(ctx, &pb.EraseSubjectRequest{Tenant: o.tenant, Subject: subject, Reason: reason})
				if err != nil {
					return err
				}
				out := eraseJSON{
					Subject: formatObject(subject), Pseudonym: formatObject(res.GetPseudonym()), DecisionsDeleted: res.GetDecisionsDeleted(),
					TransactionsRewritten: res.GetTransactionsRewritten(), Token: res.GetToken(),
				}
				if o.json() {
					return writeJSON(cmd.OutOrStdout(), out)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "erased %s: now %s; %d decisions deleted, %d audit transactions rewritten\ntoken: %s\n",
					out.Subject, out.Pseudonym, out.DecisionsDeleted, out.TransactionsRewritten, out.Token)
				return nil
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the audit trail (a ticket number, say)")
	return cmd
}
