package validation

import (
	"bytes"
	"context"
	"testing"
)

// TestReferenceSchema runs the reference B2B schema's validation file, so a change to
// the schema, the engine or the file that breaks the reference scenario fails CI.
func TestReferenceSchema(t *testing.T) {
	var out bytes.Buffer
	passed, err := RunFiles(context.Background(), []string{"../../schema/b2b-ciam/validation.yaml"}, &out, Options{})
	t.Log(out.String())
	if err != nil {
		t.Fatal(err)
	}
	if !passed {
		t.Fatal("the reference schema's validation file fails")
	}
}
