package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

// EnvName returns the environment variable of a flag: PEMBA_ and the flag name
// upper-cased with dashes as underscores.
func EnvName(flag string) string {
	return "PEMBA_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its environment
// variable, when that is set. Repeatable flags take whitespace-separated values.
func applyEnv(fs *pflag.FlagSet) error {
	var firstErr error
	fs.VisitAll(func(f *pflag.Flag) {
		if firstErr != nil || f.Changed || f.Name == "help" {
			return
		}
		name := EnvName(f.Name)
		val, ok := getenv(name)
		if !ok {
			return
		}
		var err error
		if sv, isSlice := f.Value.(pflag.SliceValue); isSlice {
			err = sv.Replace(strings.Fields(val))
		} else {
			err = f.Value.Set(val)
		}
		if err != nil {
			// The value may be a secret (PEMBA_PRESHARED_KEY): name the variable only.
			firstErr = fmt.Errorf("environment variable %s is not a valid value for --%s: %v", name, f.Name, redact(f, err))
			return
		}
		f.Changed = true
	})
	return firstErr
}

// redact hides the parse error of secret flags, whose message may quote the value.
func redact(f *pflag.Flag, err error) error {
	if isSecretFlag(f.Name) {
		return fmt.Errorf("the value was rejected")
	}
	return err
}

func isSecretFlag(name string) bool {
	if strings.HasPrefix(name, "key-") { // the per-key quotas: numbers, not keys
		return false
	}
	return strings.Contains(name, "key") && !strings.HasSuffix(name, "-file") || strings.Contains(name, "token")
}
