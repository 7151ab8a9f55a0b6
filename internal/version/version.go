// Package version reports what binary is running: its release version, the commit it
// was built from and the Go version, for `pemba version`, the server's start-up log
// and its build-info metric.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is the release version. Release builds set it with
// -ldflags "-X github.com/pemba-authz/pemba/internal/version.Version=v1.2.3"; a build
// from a checkout is "dev".
var Version = "dev"

// Info is what Get reports.
type Info struct {
	Version string `json:"version"`
	// Commit is the revision the binary was built from, with "-dirty" when the tree
	// had uncommitted changes; "unknown" when the build recorded none (go run, tests).
	Commit    string `json:"commit"`
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's version information.
func Get() Info {
	info := Info{Version: Version, Commit: "unknown", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	var rev string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		info.Commit = rev
		if dirty {
			info.Commit += "-dirty"
		}
	}
	if info.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		info.Version = bi.Main.Version // installed with go install module@version
	}
	return info
}

// String is the one-line form: "pemba dev (commit 1a2b3c4, go1.26.8)".
func (i Info) String() string {
	commit := i.Commit
	if len(commit) > 12 && commit != "unknown" {
		commit = commit[:12] + commit[len(commit)-len(dirtySuffix(commit)):]
	}
	return fmt.Sprintf("pemba %s (commit %s, %s)", i.Version, commit, i.GoVersion)
}

func dirtySuffix(commit string) string {
	if len(commit) > 6 && commit[len(commit)-6:] == "-dirty" {
		return "-dirty"
	}
	return ""
}
