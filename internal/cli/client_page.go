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

// page is what one request of a paged listing printed.
type page struct {
	got  uint32 // results printed
	next string // where the next request starts: the last result's cursor or the next page token
	last bool   // no further page follows
}

// cursorPage is a page of a stream whose results each carry a cursor: an empty page,
// or one shorter than asked for, is the last.
func cursorPage(size, got uint32, last string) page {
	return page{got: got, next: last, last: got == 0 || last == "" || (size > 0 && got < size)}
}

// tokenPage is a page of a listing whose server hands out a next page token while
// more follow.
func tokenPage(got uint32, next string) page {
	return page{got: got, next: next, last: got == 0 || next == ""}
}

// pageFunc fetches one page of at most size results (0: the server's page size)
// starting at from (a cursor or page token; empty: the start), prints them and says
// what it printed.
type pageFunc func(size uint32, from string) (page, error)

// fetchPages follows pages until limit results were printed (0: all of them) or the
// last page. next is where to continue when the limit stopped it (more may follow);
// it is empty when everything was printed. Errors are returned as the fetch gave them.
func fetchPages(limit uint32, from string, fetch pageFunc) (total uint32, next string, err error) {
	sizer := &pageSizer{limit: limit}
	for {
		size := sizer.size(total)
		p, err := fetch(size, from)
		if sizer.retry(err, size, p.got) {
			continue
		}
		total += p.got
		if err != nil {
			return total, "", err
		}
		sizer.observe(size, p.got)
		if p.last {
			return total, "", nil
		}
		from = p.next
		if limit > 0 && total >= limit {
			return total, from, nil
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
