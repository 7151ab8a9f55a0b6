package cli

import (
	"github.com/spf13/pflag"

	"github.com/pemba-authz/pemba/internal/serve"
)

// addRetentionFlags registers the flags of the retention per record kind and of
// erasure on pemba serve.
func addRetentionFlags(f *pflag.FlagSet, o *serve.Config, d serve.Config) {
	f.DurationVar(&o.Retention.Interval, "retention-interval", d.Retention.Interval, "how often the refusal and denied-decision retentions are applied (0 disables)")
	f.DurationVar(&o.Retention.Refusals, "audit-refusal-retention", d.Retention.Refusals, "how long a refused write keeps what was attempted; after it the audit record only says that a write was refused (0 keeps the details)")
	f.DurationVar(&o.Retention.DeniedDecisions, "decision-log-denied-retention", d.Retention.DeniedDecisions, "how long denied decisions are kept (0: as long as --decision-log-retention)")
	f.StringVar(&o.Erasure.SecretFile, "erasure-secret-file", d.Erasure.SecretFile, "file holding the secret (16 bytes or more) that keys the pseudonyms of pemba audit erase; without it or --erasure-secret, erasure is off")
	f.StringVar(&o.Erasure.Secret, "erasure-secret", d.Erasure.Secret, "the erasure secret itself; prefer --erasure-secret-file or PEMBA_ERASURE_SECRET, since flags show in process lists")
}
