package validation

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dependentGrants is a validation file with delegated grants bound to what they depend
// on: pat's grant ended when pat left the partner, and every grant of the former
// admin mo ended with mo's right to grant.
const dependentGrants = `schema: |-
  definition user {}

  definition organization {
    relation admin: user
    relation member: user
    permission active_member = member + admin
    permission manage = admin
  }

  definition project {
    relation partner: organization
    relation partner_viewer: user
    permission view = partner_viewer

    grant partner_viewer by partner->manage
      while grantee in organization#active_member and grantor can grant
  }
relationships: |-
  project:apollo#partner@organization:partner
  organization:partner#admin@user:eve
  organization:partner#member@user:sam
  organization:partner#member@user:kim
  project:apollo#partner_viewer@user:sam[granted:user:eve@organization:partner]
  project:apollo#partner_viewer@user:pat[granted:user:eve@organization:partner]
  project:apollo#partner_viewer@user:kim[granted:user:mo@organization:partner]
assertions:
  assertTrue:
    - project:apollo#view@user:sam
  assertFalse:
    - project:apollo#view@user:pat
    - project:apollo#view@user:kim
validation:
  project:apollo#view:
    - "[user:sam] is <project:apollo#partner_viewer>"
`

// pemba validate agrees with Check on grants whose dependencies ended: the expected
// subjects (computed from Expand) leave them out, as the assertions (Check) do.
func TestValidateDependentGrants(t *testing.T) {
	dir := t.TempDir()
	run := func(yaml string) (bool, string) {
		t.Helper()
		path := filepath.Join(dir, "grants.yaml")
		if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		passed, err := RunFiles(context.Background(), []string{path}, &out, Options{})
		if err != nil {
			t.Fatal(err)
		}
		return passed, out.String()
	}
	if passed, out := run(dependentGrants); !passed {
		t.Fatalf("the file should pass:\n%s", out)
	}
	// Claiming an ended grant still counts fails, naming the subject.
	wrong := strings.Replace(dependentGrants, `"[user:sam] is <project:apollo#partner_viewer>"`,
		"\"[user:sam] is <project:apollo#partner_viewer>\"\n    - \"[user:pat] is <project:apollo#partner_viewer>\"", 1)
	if passed, out := run(wrong); passed || !strings.Contains(out, "user:pat") {
		t.Fatalf("an ended grant listed as expected should fail and name user:pat:\n%s", out)
	}
}
