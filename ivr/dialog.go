package ivr

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// dialog is the UAS side of one INVITE dialog (RFC 3261 12.1.1): what responses to the INVITE
// and our in-dialog requests need, copied out of the INVITE. Unlike sipgo's
// DialogServerSession it keeps neither the INVITE, its clone, the 200 OK nor the transaction,
// so a held call costs a few hundred bytes of SIP state once the ACK came.
type dialog struct {
	id        string
	localTag  string
	remoteTag string
	branch    string // the INVITE's top Via branch: its retransmissions carry it too
	callID    sip.CallIDHeader
	local     sip.FromHeader // the INVITE's To with our tag: From of our requests
	remote    sip.ToHeader   // the INVITE's From: To of our requests
	target    sip.Uri        // the INVITE's Contact: Request-URI of our requests
	routes    []string       // Record-Route values in the order received (the UAS route set)
	transport string
	source    string // where the INVITE came from
	reuse     bool   // send in-dialog requests back to source (reliable transports, no route set)
	cseq      atomic.Uint32
}

var (
	errNoContact = errors.New("no Contact header")
	errNoCSeq    = errors.New("no CSeq header")
)

// newDialog reads the dialog state of an INVITE without a To tag and picks our tag.
func newDialog(req *sip.Request) (*dialog, error) {
	from, to, callID, cseq, contact := req.From(), req.To(), req.CallID(), req.CSeq(), req.Contact()
	switch {
	case contact == nil:
		return nil, errNoContact
	case cseq == nil:
		return nil, errNoCSeq
	case from == nil || to == nil || callID == nil:
		return nil, errors.New("no From, To or Call-ID header")
	}
	fromTag, _ := from.Params.Get("tag")
	if fromTag == "" {
		return nil, errors.New("no From tag")
	}
	d := &dialog{
		localTag:  sip.GenerateTagN(16),
		callID:    sip.CallIDHeader(strings.Clone(callID.Value())),
		remote:    from.AsTo(),
		target:    *contact.Address.Clone(),
		transport: req.Transport(),
		source:    strings.Clone(req.Source()),
	}
	d.local = to.AsFrom()
	d.local.Params.Add("tag", d.localTag)
	for _, rr := range req.GetHeaders("Record-Route") {
		d.routes = append(d.routes, strings.Clone(rr.Value()))
	}
	d.reuse = sip.IsReliable(d.transport) && len(d.routes) == 0
	d.remoteTag = strings.Clone(fromTag)
	d.branch = strings.Clone(topBranch(req))
	d.id = sip.DialogIDMake(string(d.callID), d.localTag, d.remoteTag)
	d.cseq.Store(cseq.SeqNo)
	return d, nil
}

// tag puts our tag into the To header of a response to the INVITE (sipgo gave it a random one).
func (d *dialog) tag(res *sip.Response) *sip.Response {
	if to := res.To(); to != nil && res.StatusCode > 100 {
		to.Params.Add("tag", d.localTag)
	}
	return res
}

// newRequest builds an in-dialog request (RFC 3261 12.2.1.1) with our next CSeq; the caller
// appends its own headers.
func (d *dialog) newRequest(method sip.RequestMethod, contact *sip.ContactHeader) *sip.Request {
	req := sip.NewRequest(method, *d.target.Clone())
	req.AppendHeader(sip.HeaderClone(&d.local))
	req.AppendHeader(sip.HeaderClone(&d.remote))
	callID := d.callID
	req.AppendHeader(&callID)
	maxFwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxFwd)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: d.cseq.Add(1), MethodName: method})
	for _, r := range d.routes {
		req.AppendHeader(sip.NewHeader("Route", r))
	}
	req.AppendHeader(sip.HeaderClone(contact))
	switch rt := req.Route(); {
	case rt != nil:
		req.SetDestination(rt.Address.HostPort())
	case d.reuse:
		// Over TCP, in-dialog requests reuse the caller's connection (RFC 5923 spirit; a PBX
		// behind NAT may not accept new connections).
		req.SetDestination(d.source)
	}
	req.SetTransport(d.transport)
	return req
}

// do sends an in-dialog request and waits for its final response.
func (d *dialog) do(ctx context.Context, client *sipgo.Client, req *sip.Request) (*sip.Response, error) {
	tx, err := client.TransactionRequest(ctx, req, func(c *sipgo.Client, r *sip.Request) error {
		if r.Via() == nil {
			if err := sipgo.ClientRequestAddVia(c, r); err != nil {
				return err
			}
		}
		if r.Body() == nil {
			r.SetBody(nil) // Content-Length: 0
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("send %s: %w", req.Method, err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func topBranch(req *sip.Request) string {
	if via := req.Via(); via != nil {
		b, _ := via.Params.Get("branch")
		return b
	}
	return ""
}

// inviteKey identifies the INVITE that made the dialog, whatever its retransmission's branch.
func (d *dialog) inviteKey() string { return inviteKey(string(d.callID), d.remoteTag) }

func inviteKey(callID, fromTag string) string { return callID + "\x00" + fromTag }
