package viewer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"pacsd/reading"
)

// peerJSON is a peer as the JSON API and Config.PeersFile write it. Site names the site by
// name (the file's way; the API answers with both); SiteID wins when both are given. No
// site: the county's own.
type peerJSON struct {
	ID          int64    `json:"id,omitempty"`
	AETitle     string   `json:"aeTitle"`
	Description string   `json:"description,omitempty"`
	Host        string   `json:"host,omitempty"`
	Port        int      `json:"port,omitempty"`
	SiteID      int64    `json:"siteId,omitempty"`
	Site        string   `json:"site,omitempty"`
	Addresses   []string `json:"addresses"`
	RequireTLS  bool     `json:"requireTLS"`
	MayStore    bool     `json:"mayStore"`
	MayQuery    bool     `json:"mayQuery"`
	MayRetrieve bool     `json:"mayRetrieve"`
	Destination bool     `json:"destination"`
}

func toPeerJSON(p reading.Peer, sites []reading.Site) peerJSON {
	j := peerJSON{ID: p.ID, AETitle: p.AETitle, Description: p.Description, Host: p.Host, Port: p.Port,
		SiteID: p.SiteID, Addresses: p.Addresses, RequireTLS: p.RequireTLS, MayStore: p.MayStore,
		MayQuery: p.MayQuery, MayRetrieve: p.MayRetrieve, Destination: p.Destination}
	if j.Addresses == nil {
		j.Addresses = []string{}
	}
	for _, s := range sites {
		if s.ID == p.SiteID {
			j.Site = s.Name
		}
	}
	return j
}

// peer is the record j describes; a site named but not registered is a FieldError "site".
func (j peerJSON) peer(sites []reading.Site) (reading.Peer, error) {
	p := reading.Peer{ID: j.ID, AETitle: j.AETitle, Description: j.Description, Host: j.Host, Port: j.Port,
		SiteID: j.SiteID, Addresses: j.Addresses, RequireTLS: j.RequireTLS, MayStore: j.MayStore,
		MayQuery: j.MayQuery, MayRetrieve: j.MayRetrieve, Destination: j.Destination}
	if name := strings.TrimSpace(j.Site); p.SiteID == 0 && name != "" {
		for _, s := range sites {
			if strings.EqualFold(s.Name, name) {
				p.SiteID = s.ID
			}
		}
		if p.SiteID == 0 {
			return p, &reading.FieldError{Field: "site", Problem: reading.ProblemValue, Value: name,
				Err: fmt.Errorf("no such site: %w", reading.ErrInvalid)}
		}
	}
	return p, nil
}

// applyPeersFile applies Config.PeersFile: each peer is created, or replaced by AE title
// (every setting as the file says); peers not in the file are left alone. It runs after the
// sites file, whose sites the peers may name.
func (v *Viewer) applyPeersFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("peers file: %w", err)
	}
	defer f.Close()
	var entries []peerJSON
	dec := json.NewDecoder(io.LimitReader(f, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&entries); err != nil {
		return fmt.Errorf("peers file %s: %w", path, err)
	}
	sites, err := v.cfg.Sites.Sites(ctx)
	if err != nil {
		return fmt.Errorf("peers file: %w", err)
	}
	for _, e := range entries {
		e.ID = 0
		p, err := e.peer(sites)
		if err == nil {
			var old reading.Peer
			var found bool
			if old, found, err = v.cfg.Peers.Peer(ctx, e.AETitle); err == nil {
				if found {
					p.ID = old.ID
				}
				_, err = v.cfg.Peers.PutPeer(ctx, p)
			}
		}
		if err != nil {
			return fmt.Errorf("peers file %s: peer %q: %w", path, e.AETitle, err)
		}
	}
	v.log.Info("peers file applied", "path", path, "peers", len(entries))
	return nil
}
