package cli

import (
	"bufio"
	"errors"
	"io"
	"os"

	"github.com/pemba-authz/pemba/internal/spicedb"
	"github.com/pemba-authz/pemba/internal/tuple"
)

// sniffBytes is how much of an import's input is read to tell its format.
const sniffBytes = 4096

// sniffInput tells the format of an import's input (a SpiceDB backup, SpiceDB's JSON,
// or relationships one per line) and returns a reader that still starts at the
// beginning.
func sniffInput(r io.Reader) (io.Reader, spicedb.Format) {
	br := bufio.NewReaderSize(r, sniffBytes)
	prefix, _ := br.Peek(sniffBytes) // a shorter input peeks what there is
	return br, spicedb.Detect(prefix)
}

// convertedInput streams a SpiceDB backup or JSON file as relationships in the text
// form, one per line, as the rest of import reads them. A defect in the input
// surfaces as a read error that names the relationship or object. stop ends the
// conversion early (the caller stopped reading).
func convertedInput(r io.Reader, format spicedb.Format) (out io.Reader, stop func()) {
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		emit := func(rel tuple.Relationship) error {
			w.WriteString(tuple.Format(rel))
			return w.WriteByte('\n')
		}
		var err error
		switch format {
		case spicedb.FormatBackup:
			err = eachBackupRelationship(r, emit)
		case spicedb.FormatJSON:
			err = spicedb.ReadJSON(r, emit)
		}
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr, func() { pr.Close() }
}

// eachBackupRelationship calls emit with every relationship of a backup file.
func eachBackupRelationship(r io.Reader, emit func(tuple.Relationship) error) error {
	b, err := spicedb.OpenBackup(r)
	if err != nil {
		return err
	}
	for {
		rel, err := b.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := emit(rel); err != nil {
			return err
		}
	}
}

// backupSchema reads the schema a backup file holds, for --with-schema; ok is false
// when the file is not a backup.
func backupSchema(name string) (schema string, ok bool, err error) {
	f, err := os.Open(name)
	if err != nil {
		return "", false, usageErrorf("%v", err)
	}
	defer f.Close()
	r, format := sniffInput(f)
	if format != spicedb.FormatBackup {
		return "", false, nil
	}
	b, err := spicedb.OpenBackup(r)
	if err != nil {
		return "", true, usageErrorf("%s: %v", name, err)
	}
	return b.Schema, true, nil
}
