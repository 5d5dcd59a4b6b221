package acme_test

import (
	"net"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// testDNS is the fake DNS the validator asks in these in-process tests:
// every name is 127.0.0.1 (no AAAA, no CAA), and TXT records are what a
// test sets. The conformance suite uses challtestsrv against the binary.
type testDNS struct {
	mu      sync.Mutex
	txt     map[string][]string
	servers []*dns.Server
}

// startTestDNS answers on addr over UDP and TCP.
func startTestDNS(addr string) (*testDNS, error) {
	d := &testDNS{txt: map[string][]string{}}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return nil, err
	}
	d.servers = []*dns.Server{{PacketConn: pc, Handler: d}, {Listener: ln, Handler: d}}
	for _, s := range d.servers {
		go s.ActivateAndServe()
	}
	return d, nil
}

func (d *testDNS) ServeDNS(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	for _, q := range r.Question {
		hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET}
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: net.IPv4(127, 0, 0, 1)})
		case dns.TypeTXT:
			d.mu.Lock()
			for _, v := range d.txt[strings.ToLower(q.Name)] {
				m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: []string{v}})
			}
			d.mu.Unlock()
		}
	}
	w.WriteMsg(m)
}

// AddDNSTXTRecord adds a TXT record for the fully qualified name.
func (d *testDNS) AddDNSTXTRecord(name, value string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.txt[strings.ToLower(name)] = append(d.txt[strings.ToLower(name)], value)
}

// DeleteDNSTXTRecord removes the TXT records of the name.
func (d *testDNS) DeleteDNSTXTRecord(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.txt, strings.ToLower(name))
}

// Shutdown stops both listeners.
func (d *testDNS) Shutdown() {
	for _, s := range d.servers {
		s.Shutdown()
	}
}
