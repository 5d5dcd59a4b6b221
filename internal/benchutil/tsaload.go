package benchutil

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// TimestampLoadResult is what a time-stamp load run measured.
type TimestampLoadResult struct {
	Requests int
	Elapsed  time.Duration
	P50, P99 time.Duration
	// Samples are replies kept for verification: the first of every
	// connection and every 1000th request.
	Samples [][]byte
}

// PerSecond is the rate of granted replies.
func (r TimestampLoadResult) PerSecond() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// TimestampLoad sends n RFC 3161 TimeStampReq bodies (DER) to rawURL by
// POST over c keep-alive HTTP/1.1 connections, one request in flight per
// connection, and checks that each reply is 200 with a granted
// TimeStampResp (RFC 3161 §2.4.2, status 0). The client is a minimal
// HTTP/1.1 writer and reader, as wrk or h2load would be, so that the load
// generator takes as little of the shared CPU as it can; it is the one
// load generator for vccpki's TSA and its peers.
func TimestampLoad(rawURL string, body []byte, c, n int) (TimestampLoadResult, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return TimestampLoadResult{}, err
	}
	req := fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/timestamp-query\r\nContent-Length: %d\r\n\r\n%s", u.RequestURI(), u.Host, len(body), body)
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      TimestampLoadResult
		all      []time.Duration
		firstErr error
	)
	start := time.Now()
	for range c {
		wg.Go(func() {
			lat, samples, err := timestampConn(u.Host, req, &next, int64(n))
			mu.Lock()
			defer mu.Unlock()
			all = append(all, lat...)
			res.Samples = append(res.Samples, samples...)
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if firstErr != nil {
		return TimestampLoadResult{}, firstErr
	}
	if len(all) == 0 {
		return TimestampLoadResult{}, fmt.Errorf("no reply")
	}
	slices.Sort(all)
	res.Requests, res.P50, res.P99 = len(all), all[len(all)/2], all[len(all)*99/100]
	return res, nil
}

// grantedPrefix is how every granted reply begins after the outer
// SEQUENCE header: PKIStatusInfo SEQUENCE { INTEGER 0 }.
var grantedPrefix = []byte{0x30, 0x03, 0x02, 0x01, 0x00}

func timestampConn(host string, req []byte, next *atomic.Int64, n int64) ([]time.Duration, [][]byte, error) {
	conn, err := net.Dial("tcp", host)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close()
	r := bufio.NewReaderSize(conn, 16<<10)
	var (
		lat     []time.Duration
		samples [][]byte
		body    []byte
	)
	for {
		i := next.Add(1)
		if i > n {
			return lat, samples, nil
		}
		t0 := time.Now()
		if _, err := conn.Write(req); err != nil {
			return lat, samples, err
		}
		length := -1
		status, err := r.ReadSlice('\n')
		if err != nil {
			return lat, samples, err
		}
		if !bytes.HasPrefix(status, []byte("HTTP/1.1 200")) {
			return lat, samples, fmt.Errorf("status %q", status)
		}
		for {
			line, err := r.ReadSlice('\n')
			if err != nil {
				return lat, samples, err
			}
			if len(line) <= 2 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if length < 0 {
			return lat, samples, fmt.Errorf("reply without Content-Length")
		}
		body = slices.Grow(body[:0], length)[:length]
		if _, err := io.ReadFull(r, body); err != nil {
			return lat, samples, err
		}
		if !granted(body) {
			return lat, samples, fmt.Errorf("reply is not a granted TimeStampResp: % x", body[:min(len(body), 16)])
		}
		lat = append(lat, time.Since(t0))
		if len(lat) == 1 || i%1000 == 0 {
			samples = append(samples, slices.Clone(body))
		}
	}
}

// granted reports whether a DER TimeStampResp begins with a granted
// PKIStatusInfo, whatever the length form of the outer SEQUENCE.
func granted(b []byte) bool {
	if len(b) < 2 || b[0] != 0x30 {
		return false
	}
	off := 2
	if b[1]&0x80 != 0 {
		off += int(b[1] & 0x7f)
	}
	return len(b) >= off+len(grantedPrefix) && bytes.Equal(b[off:off+len(grantedPrefix)], grantedPrefix)
}
