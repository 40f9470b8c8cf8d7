package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"pacsd/audit"
	"pacsd/dimse"
	"pacsd/reading"
)

// unknownAEPolicy is --unknown-ae: what a calling AE title that is not a registered peer
// may do.
type unknownAEPolicy string

const (
	unknownAccept     unknownAEPolicy = "accept"     // stored, its studies from an unknown sender
	unknownQuarantine unknownAEPolicy = "quarantine" // stored, seen only by administrators until assigned
	unknownRefuse     unknownAEPolicy = "refuse"     // the association is rejected
)

func (p unknownAEPolicy) String() string {
	if p == "" {
		return string(unknownAccept)
	}
	return string(p)
}

func (p *unknownAEPolicy) Set(s string) error {
	switch v := unknownAEPolicy(s); v {
	case unknownAccept, unknownQuarantine, unknownRefuse:
		*p = v
		return nil
	}
	return fmt.Errorf("%q: want accept, quarantine or refuse", s)
}

// peerPolicy decides, from the peers registry, who may associate (dimse.Server.Accept)
// and who may store, and where what they store comes from (store.Origin.Site).
type peerPolicy struct {
	peers   reading.PeerLookup
	unknown unknownAEPolicy
	log     *slog.Logger // component=peers
	audit   audit.Auditor
}

// errRefused is why an association is rejected; dimse answers A-ASSOCIATE-RJ (calling AE
// title not recognised, PS3.8 9.3.4).
var errRefused = errors.New("calling AE title refused")

// accept is dimse.Server.Accept: a registered peer calling from an address not its own, or
// over the plain listener when it must use TLS, is rejected; so is an unknown AE title
// under --unknown-ae=refuse. Each rejection is logged and audited.
func (p *peerPolicy) accept(info dimse.AssociationInfo) error {
	// The lookup answers from memory (the registry's snapshot): no SQL per association.
	ctx := context.Background()
	peer, ok, err := p.peers.Peer(ctx, info.CallingAETitle)
	var why string
	switch {
	case err != nil:
		p.log.Error("peer lookup failed", "calling_ae", info.CallingAETitle, "err", err)
		why = "对端登记表不可用"
	case !ok && p.unknown == unknownRefuse:
		why = "未登记的 AE"
	case ok && !peer.CallsFrom(info.RemoteAddr):
		why = "地址不在登记范围内"
	case ok && peer.RequireTLS && !info.TLS:
		why = "须经 TLS 连接"
	default:
		return nil
	}
	p.log.Warn("association refused", "calling_ae", info.CallingAETitle, "called_ae", info.CalledAETitle,
		"remote", info.RemoteAddr, "tls", info.TLS, "reason", why)
	p.audit.Record(ctx, audit.Event{Actor: audit.AE(info.CallingAETitle, hostOnly(info.RemoteAddr)),
		Action: audit.ActionSecurity, Object: info.CalledAETitle, Outcome: audit.OutcomeFailure,
		Detail: "拒绝 DICOM 关联：" + why})
	return errRefused
}

// storeOrigin names the sender of a C-STORE for the archive (store.Origin.Site,
// Quarantined); refused is the status for a sender that may not store (a registered
// peer without MayStore; an unknown one under --unknown-ae=refuse whose association
// predates the policy).
func (p *peerPolicy) storeOrigin(ctx context.Context, callingAE string) (site string, quarantined bool, refused *dimse.Status) {
	peer, ok, err := p.peers.Peer(ctx, callingAE)
	if err != nil {
		p.log.Error("peer lookup failed", "calling_ae", callingAE, "err", err)
		return "", false, &dimse.Status{Code: dimse.StatusOutOfResources, ErrorComment: "peer registry unavailable"}
	}
	switch {
	case ok && !peer.MayStore, !ok && p.unknown == unknownRefuse:
		return "", false, &dimse.Status{Code: dimse.StatusNotAuthorized, ErrorComment: "not authorized to store"}
	case ok:
		return reading.SenderSite(peer.SiteID), false, nil
	}
	return "ae:" + callingAE, p.unknown == unknownQuarantine, nil
}

// hostOnly is the IP address of "host:port" (audit events carry no port).
func hostOnly(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}
