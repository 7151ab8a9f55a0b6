package cli

import (
	"errors"
	"io"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// clientPageSize is the largest page the CLI asks for when it follows pages itself:
// the server's default maximum.
const clientPageSize = 1000

// pageSizer chooses the page size of each request of a paginated listing with an
// overall limit (0: no limit). It asks for what is left, up to clientPageSize. A
// server configured with a smaller --max-page-size refuses that; the sizer then asks
// for the server's own page size (0), learns it from the first page, and asks for
// exactly what is left once that fits in one page, so the listing never overshoots.
type pageSizer struct {
	limit      uint32
	smaller    bool   // the server refused a page size: its maximum is smaller
	serverPage uint32 // the server's page size as observed, 0 while unknown
}

// size returns the page size to ask for after total results.
func (p *pageSizer) size(total uint32) uint32 {
	if p.limit == 0 {
		return 0
	}
	left := min(p.limit-total, clientPageSize)
	if p.smaller && (p.serverPage == 0 || left > p.serverPage) {
		return 0
	}
	return left
}

// retry reports whether a failed request should be repeated with the server's page
// size, and records that.
func (p *pageSizer) retry(err error, size, got uint32) bool {
	if err == nil || got > 0 || size == 0 || p.smaller || !isPageLimitError(err) {
		return false
	}
	p.smaller = true
	return true
}

// observe records a page of the server's own size.
func (p *pageSizer) observe(size, got uint32) {
	if p.smaller && size == 0 && p.serverPage == 0 {
		p.serverPage = got
	}
}

// isPageLimitError reports whether the server refused a page size above its
// --max-page-size.
func isPageLimitError(err error) bool {
	st, ok := status.FromError(err)
	return ok && st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "max-page-size")
}

// pageFunc fetches one page of at most size results (0: the server's page size)
// starting after cursor, prints them, and returns how many it got and the cursor of
// the last one.
type pageFunc func(size uint32, cursor string) (got uint32, last string, err error)

// fetchPages follows cursors until limit results were printed (0: all of them) or the
// server has no more. next is the cursor to continue with when the limit stopped it
// (more may follow); it is empty when everything was printed. Errors are returned as
// the fetch gave them.
func fetchPages(limit uint32, cursor string, fetch pageFunc) (total uint32, next string, err error) {
	sizer := &pageSizer{limit: limit}
	for {
		size := sizer.size(total)
		got, last, err := fetch(size, cursor)
		if sizer.retry(err, size, got) {
			continue
		}
		total += got
		if err != nil {
			return total, "", err
		}
		sizer.observe(size, got)
		if got == 0 || last == "" || (size > 0 && got < size) {
			return total, "", nil
		}
		cursor = last
		if limit > 0 && total >= limit {
			return total, cursor, nil
		}
	}
}

// tokenPageFunc fetches one page of at most size results (0: the server's page size)
// at pageToken, prints them, and returns how many it printed and the next page token.
type tokenPageFunc func(size uint32, pageToken string) (got uint32, next string, err error)

// fetchTokenPages follows page tokens until limit results were printed (0: all) or the
// last page. next is the page token to continue with when the limit stopped it.
func fetchTokenPages(limit uint32, pageToken string, fetch tokenPageFunc) (total uint32, next string, err error) {
	sizer := &pageSizer{limit: limit}
	for {
		size := sizer.size(total)
		got, next, err := fetch(size, pageToken)
		if sizer.retry(err, size, got) {
			continue
		}
		total += got
		if err != nil || next == "" || got == 0 {
			return total, "", err
		}
		sizer.observe(size, got)
		pageToken = next
		if limit > 0 && total >= limit {
			return total, next, nil
		}
	}
}

// errStop ends a stream early without an error.
var errStop = errors.New("stop")

// recvAll reads a server stream to its end, calling each for every message.
func recvAll[T any](recv func() (T, error), each func(T) error) error {
	for {
		msg, err := recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := each(msg); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
}
