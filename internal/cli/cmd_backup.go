package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/pemba-authz/pemba/internal/serve"
	pb "github.com/pemba-authz/pemba/proto/pemba/v1"
)

func newBackupCommand() *cobra.Command {
	var o *clientOptions
	var force bool
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Copy a running server's embedded datastore to FILE (admin keys for every tenant only)",
		Long: `Copy the embedded datastore of a running server into FILE while it keeps serving:
a consistent snapshot of every tenant, holding exactly the transactions committed
before the backup began.

The copy is written to FILE.tmp, checked against the size and SHA-256 digest the
server sent and with the datastore's consistency check, synced, and only then
renamed to FILE, so FILE is never a partial backup. An existing FILE is replaced only
with --force. The output gives the size and, for every tenant, the token of the
newest transaction the backup holds.

Restore it with "pemba restore FILE --datastore-path DIR" while no server runs on
DIR. Servers on PostgreSQL or CockroachDB refuse (FAILED_PRECONDITION): back those up
with the database's own tools (pg_dump).`,
		Example: `  pemba backup /var/backups/pemba-$(date +%F).db
  pemba backup latest.db --force -o json`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if _, err := os.Stat(file); err == nil && !force {
				return usageErrorf("%s exists: pass --force to replace it", file)
			}
			return o.withConn(cmd, true, func(ctx context.Context, conn *grpc.ClientConn) error {
				return runBackup(ctx, cmd, o, pb.NewBackupServiceClient(conn), file, force)
			})
		},
	}
	o = addClientFlags(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "replace FILE if it exists")
	return cmd
}

// runBackup streams a backup into file and reports what it holds.
func runBackup(ctx context.Context, cmd *cobra.Command, o *clientOptions, c pb.BackupServiceClient, file string, force bool) error {
	stream, err := c.Backup(ctx, &pb.BackupRequest{})
	if err != nil {
		return err
	}
	var header *pb.BackupHeader
	var digest string
	saved, err := serve.SaveBackup(file, force, func(w io.Writer) error {
		var err error
		header, digest, err = receiveBackup(stream, w)
		return err
	})
	if err != nil {
		return err
	}
	// The file holds what the server said it would: its own tokens, computed from
	// the tenants' heads in the file, are the header's.
	same := saved.StoreID == header.GetStoreId() && len(saved.Tokens) == len(header.GetTenants())
	for _, t := range header.GetTenants() {
		same = same && saved.Tokens[t.GetTenant()] == t.GetToken()
	}
	if !same {
		return fmt.Errorf("%s passed the consistency check but does not hold what the server described (store %s, tenants %v): do not rely on it", file, header.GetStoreId(), header.GetTenants())
	}
	if o.json() {
		return writeJSON(cmd.OutOrStdout(), backupJSON{File: file, SizeBytes: saved.Size, SHA256: digest, StoreID: saved.StoreID, Tenants: tenantTokens(saved.Tokens)})
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "backup: %s (%d bytes, sha256 %s)\nstore: %s\n", file, saved.Size, digest, saved.StoreID)
	printTenantTokens(out, saved.Tokens)
	return nil
}

// receiveBackup copies a backup stream into w: the header, the chunks, and the
// trailer, whose digest and the header's size the bytes must match.
func receiveBackup(stream pb.BackupService_BackupClient, w io.Writer) (*pb.BackupHeader, string, error) {
	var header *pb.BackupHeader
	sum := sha256.New()
	var n int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil, "", errors.New("the server ended the backup stream without its trailer: the backup is incomplete")
		}
		if err != nil {
			return nil, "", err
		}
		switch part := msg.GetPart().(type) {
		case *pb.BackupResponse_Header:
			header = part.Header
		case *pb.BackupResponse_Chunk:
			if header == nil {
				return nil, "", errors.New("the server sent backup data before its header")
			}
			sum.Write(part.Chunk)
			n += int64(len(part.Chunk))
			if _, err := w.Write(part.Chunk); err != nil {
				return nil, "", err
			}
		case *pb.BackupResponse_Trailer:
			digest := hex.EncodeToString(sum.Sum(nil))
			switch {
			case header == nil:
				return nil, "", errors.New("the server sent a backup trailer without a header")
			case n != header.GetSizeBytes():
				return nil, "", fmt.Errorf("received %d bytes of a %d-byte backup", n, header.GetSizeBytes())
			case digest != part.Trailer.GetSha256():
				return nil, "", fmt.Errorf("the backup's SHA-256 is %s, the server sent %s: it was damaged in transit", digest, part.Trailer.GetSha256())
			}
			return header, digest, nil
		}
	}
}

// backupJSON is the JSON output of backup and restore.
type backupJSON struct {
	File      string        `json:"file,omitempty"`
	Datastore string        `json:"datastore,omitempty"`
	SizeBytes int64         `json:"size_bytes"`
	SHA256    string        `json:"sha256,omitempty"`
	StoreID   string        `json:"store_id"`
	Tenants   []tenantToken `json:"tenants"`
}

// tenantToken is a tenant and the token of the newest transaction a file holds.
type tenantToken struct {
	Tenant string `json:"tenant"`
	Token  string `json:"token"`
}

func tenantTokens(tokens map[string]string) []tenantToken {
	out := []tenantToken{}
	for _, name := range slices.Sorted(maps.Keys(tokens)) {
		out = append(out, tenantToken{Tenant: name, Token: tokens[name]})
	}
	return out
}

// printTenantTokens prints "tenant NAME: TOKEN" lines, by name.
func printTenantTokens(w io.Writer, tokens map[string]string) {
	for _, t := range tenantTokens(tokens) {
		fmt.Fprintf(w, "tenant %s: %s\n", t.Tenant, t.Token)
	}
}

func newRestoreCommand() *cobra.Command {
	var dir, output string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Install a backup as the embedded datastore of a stopped server",
		Long: `Install FILE, written by "pemba backup", as the embedded datastore in
--datastore-path, for a server that is not running. The backup is checked first, then
copied beside the datastore, synced, checked again and renamed into place, so an
interrupted restore leaves the directory as it was.

A datastore already in the directory is replaced only with --force, and never while a
server holds it. The restored datastore keeps the original's identity: tokens issued
up to the backup stay valid; tokens issued after it are newer than the restored head
and are refused (INVALID_ARGUMENT) until new writes catch up.`,
		Example: `  pemba restore /var/backups/pemba-2026-05-01.db --datastore-path /var/lib/pemba
  pemba restore latest.db --datastore-path ./pemba-data --force`,
		Args: exactArgs(1, "FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "text" && output != "json" {
				return usageErrorf("--output %q is not a format: use text or json", output)
			}
			restored, err := serve.Restore(args[0], dir, force)
			if err != nil {
				return &ExitError{Code: exitError, Err: err}
			}
			if output == "json" {
				return writeJSON(cmd.OutOrStdout(), backupJSON{Datastore: dir, SizeBytes: restored.Size, StoreID: restored.StoreID, Tenants: tenantTokens(restored.Tokens)})
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "restored %s into %s (%d bytes)\nstore: %s\n", args[0], dir, restored.Size, restored.StoreID)
			printTenantTokens(out, restored.Tokens)
			return nil
		},
	}
	d := serve.DefaultConfig()
	cmd.Flags().StringVar(&dir, "datastore-path", d.DatastorePath, "directory of the embedded datastore to restore into")
	cmd.Flags().BoolVar(&force, "force", false, "replace the datastore in --datastore-path (its server must be stopped)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text (for people) or json (for scripts)")
	cmd.SetFlagErrorFunc(flagError)
	return cmd
}
