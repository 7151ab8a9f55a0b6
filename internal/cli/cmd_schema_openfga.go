package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pemba-authz/pemba/internal/openfga"
	"github.com/pemba-authz/pemba/internal/schema"
	"github.com/pemba-authz/pemba/internal/tuple"
)

func newSchemaImportOpenFGACommand() *cobra.Command {
	var tuplesFile, relsFile string
	cmd := &cobra.Command{
		Use:   "import-openfga MODEL",
		Short: "Translate an OpenFGA model (.fga or .json), and its tuples, into Pemba's schema (offline)",
		Long: `Translate an OpenFGA authorisation model into Pemba's schema language and print it.
MODEL is the DSL (.fga) or the JSON of the OpenFGA API (.json). A relation that both
takes tuples and computes ("[user] or owner") becomes a relation NAME_direct holding the
tuples and a permission NAME; tuples follow the same translation. With --tuples, the
tuples (.json, .yaml or .csv as the fga CLI writes them) are translated too and written
to --relationships in the text form, ready for pemba import. Whatever has no Pemba
equivalent is listed with where it is, nothing is written, and the exit status is 2.
Needs no server.`,
		Example: `  pemba schema import-openfga model.fga > schema.zed
  pemba schema import-openfga model.fga --tuples tuples.csv --relationships rels.txt
  pemba schema write schema.zed && pemba import rels.txt`,
		Args: exactArgs(1, "MODEL (.fga or .json)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (tuplesFile == "") != (relsFile == "") {
				return usageErrorf("--tuples and --relationships go together: the translated tuples are written to --relationships")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return usageErrorf("%v", err)
			}
			m, err := openfga.ParseModel(args[0], data)
			if err != nil {
				return usageErrorf("%v", err)
			}
			tr, err := openfga.Translate(m)
			if err != nil {
				var probs openfga.Problems
				if errors.As(err, &probs) {
					return usageErrorf("%s: %v", args[0], probs)
				}
				return usageErrorf("%s: %v", args[0], err)
			}
			compiled, err := schema.Compile(args[0], tr.Schema)
			if err != nil {
				return usageErrorf("%s: %v", args[0], err)
			}
			if tuplesFile != "" {
				if err := translateTuples(tr, tuplesFile, relsFile); err != nil {
					return err
				}
			}
			_, err = io.WriteString(cmd.OutOrStdout(), schema.Format(compiled))
			return err
		},
	}
	cmd.Flags().StringVar(&tuplesFile, "tuples", "", "OpenFGA tuples to translate (.json, .yaml, .yml or .csv)")
	cmd.Flags().StringVar(&relsFile, "relationships", "", "where to write the translated tuples, one relationship per line")
	return cmd
}

// translateTuples translates every tuple of in and writes them to out, or writes
// nothing and names each tuple that does not translate.
func translateTuples(tr *openfga.Translation, in, out string) error {
	data, err := os.ReadFile(in)
	if err != nil {
		return usageErrorf("%v", err)
	}
	tuples, err := openfga.ParseTuples(in, data)
	if err != nil {
		return usageErrorf("%v", err)
	}
	var b strings.Builder
	var bad []string
	for i, t := range tuples {
		r, err := tr.Relationship(t)
		if err != nil {
			if len(bad) < 20 {
				bad = append(bad, fmt.Sprintf("tuple %d (%s#%s@%s): %v", i+1, t.Object, t.Relation, t.User, err))
			}
			continue
		}
		b.WriteString(tuple.Format(r))
		b.WriteByte('\n')
	}
	if len(bad) > 0 {
		return usageErrorf("%s: tuples that do not translate (nothing written):\n  %s", in, strings.Join(bad, "\n  "))
	}
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return usageErrorf("writing %s: %v", out, err)
	}
	return nil
}
