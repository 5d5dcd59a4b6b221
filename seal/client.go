package seal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"time"
)

// The operator side: vccpki unseal and vccpki seal talk to the running
// server over the admin socket in its data directory.

// Ask shows whether the server in data is sealed and how many shares it
// holds.
func Ask(ctx context.Context, data string) (Status, error) {
	return call(ctx, data, http.MethodGet, "/v1/status", Request{})
}

// GiveShare gives one holder's share.
func GiveShare(ctx context.Context, data, operator, share string) (Status, error) {
	return call(ctx, data, http.MethodPost, "/v1/unseal", Request{Operator: operator, Share: share})
}

// Reset discards the shares given so far.
func Reset(ctx context.Context, data, operator string) (Status, error) {
	return call(ctx, data, http.MethodPost, "/v1/unseal", Request{Operator: operator, Reset: true})
}

// Seal wipes the CA keys from the server's memory.
func Seal(ctx context.Context, data, operator string) (Status, error) {
	return call(ctx, data, http.MethodPost, "/v1/seal", Request{Operator: operator})
}

func call(ctx context.Context, data, method, path string, req Request) (Status, error) {
	sock := filepath.Join(data, SocketName)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer client.CloseIdleConnections()
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, method, "http://vccpki-admin"+path, bytes.NewReader(body))
	if err != nil {
		return Status{}, err
	}
	resp, err := client.Do(hr)
	if err != nil {
		return Status{}, fmt.Errorf("no server answers on the admin socket %s: is vccpki serve running on this data directory, with a key store split into shares (vccpki init --shares)? (%v)", sock, err)
	}
	defer resp.Body.Close()
	var st Status
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return st, fmt.Errorf("admin socket: unreadable answer (%s)", resp.Status)
	}
	if st.Error != "" {
		return st, errors.New(st.Error)
	}
	return st, nil
}
