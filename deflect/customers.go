package deflect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/deflectd/deflectd/deflect/store"
	"github.com/deflectd/deflectd/whatsapp"
)

// LinksCollection links a customer's identifiers to the key of their conversation. WhatsApp users
// who adopt a username may write with only a business-scoped user id (BSUID, "US.1349…") and no
// phone number, and the same person may later write with their number (or be deflected from a
// call, which knows it). One customer must stay one conversation, so:
//
//   - a conversation is keyed by the phone number's wa_id when the first message (or the
//     deflection) knows it, else by the BSUID;
//   - the document "<BSUID>" holds that key from the first time the BSUID is seen, and the phone
//     number once it is known; every later message carrying the BSUID goes to that key, with or
//     without a phone number;
//   - when a customer keyed by BSUID turns out to have a phone number, the document "<wa_id>"
//     points the number at the BSUID's conversation too, so that a later deflection of a call
//     from that number continues it.
//
// A key never changes once chosen: the inbox record, the agent's assignment and the console's
// links all use it. Two conversations that both existed before their link was learned (a
// deflection to a number, then a message from a BSUID Meta had never shown with that number)
// are not merged; messages from then on go to the BSUID's. Replies to a BSUID key go out with
// Meta's "recipient" field (the whatsapp client chooses it from the key's form).
const LinksCollection = "customer_links"

// CustomerLink is one document of LinksCollection.
type CustomerLink struct {
	Key   string    `json:"key"`             // the conversation's key: wa_id digits or a BSUID
	Phone string    `json:"phone,omitempty"` // wa_id digits, once known
	At    time.Time `json:"at"`              // last written (links are refreshed within their TTL)
}

var errUnchanged = errors.New("unchanged")

// Customer is who wrote: the conversation key and the phone number when known.
type Customer struct {
	Key   string // conversation key
	Phone string // wa_id digits; "" when only the BSUID is known
}

// ResolveCustomer returns the conversation of the customer who wrote from phone (wa_id, may be
// empty) with business-scoped user id bsuid (may be empty), recording the link on first sight.
// ttl is the conversations' TTL: links live as long and are rewritten when half of it passed.
func ResolveCustomer(ctx context.Context, docs store.Docs, ttl time.Duration, now time.Time, phone, bsuid string) (Customer, error) {
	phone = strings.TrimPrefix(phone, "+")
	if bsuid == "" {
		key, err := PhoneKey(ctx, docs, phone)
		return Customer{Key: key, Phone: phone}, err
	}
	l, err := store.UpdateJSON(ctx, docs, LinksCollection, bsuid, ttl, 5,
		func() CustomerLink { return CustomerLink{} },
		func(l *CustomerLink, isNew bool) error {
			switch {
			case isNew && phone != "":
				key, err := PhoneKey(ctx, docs, phone)
				if err != nil {
					return err
				}
				l.Key, l.Phone = key, phone
			case isNew:
				l.Key = bsuid
			case phone != "" && l.Phone == "":
				l.Phone = phone
			case ttl <= 0 || now.Sub(l.At) < ttl/2:
				return errUnchanged
			}
			l.At = now
			return nil
		})
	if err != nil && !errors.Is(err, errUnchanged) {
		return Customer{}, fmt.Errorf("link customer: %w", err)
	}
	c := Customer{Key: l.Key, Phone: l.Phone}
	if err == nil && c.Phone != "" && c.Key != c.Phone {
		// The number now leads to the BSUID's conversation (written again with the link, so
		// that both live as long).
		data, _ := json.Marshal(CustomerLink{Key: c.Key, Phone: c.Phone, At: now})
		if err := putLink(ctx, docs, c.Phone, data, ttl); err != nil {
			return Customer{}, err
		}
	}
	return c, nil
}

// LookupCustomer is ResolveCustomer without recording anything (a status webhook names a
// recipient; it creates no link).
func LookupCustomer(ctx context.Context, docs store.Docs, phone, bsuid string) (Customer, error) {
	phone = strings.TrimPrefix(phone, "+")
	if bsuid != "" {
		l, err := getLink(ctx, docs, bsuid)
		switch {
		case err == nil:
			return Customer{Key: l.Key, Phone: l.Phone}, nil
		case !errors.Is(err, store.ErrNotFound):
			return Customer{}, err
		case phone == "":
			return Customer{Key: bsuid}, nil
		}
	}
	key, err := PhoneKey(ctx, docs, phone)
	return Customer{Key: key, Phone: phone}, err
}

// PhoneKey is the conversation key of the phone number waID: its own, unless the number belongs
// to a customer whose conversation is keyed by BSUID.
func PhoneKey(ctx context.Context, docs store.Docs, waID string) (string, error) {
	waID = strings.TrimPrefix(waID, "+")
	if waID == "" {
		return "", nil
	}
	l, err := getLink(ctx, docs, waID)
	switch {
	case err == nil && l.Key != "":
		return l.Key, nil
	case err == nil || errors.Is(err, store.ErrNotFound):
		return waID, nil
	}
	return "", err
}

// CustomerPhone is the wa_id behind a conversation key: the key itself, or the phone number
// linked to a BSUID key ("" when not known).
func CustomerPhone(ctx context.Context, docs store.Docs, key string) (string, error) {
	if !whatsapp.IsBSUID(key) {
		return key, nil
	}
	l, err := getLink(ctx, docs, key)
	switch {
	case err == nil:
		return l.Phone, nil
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	}
	return "", err
}

func getLink(ctx context.Context, docs store.Docs, id string) (CustomerLink, error) {
	var l CustomerLink
	doc, err := docs.GetDoc(ctx, LinksCollection, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return l, err
		}
		return l, fmt.Errorf("get customer link: %w", err)
	}
	if err := json.Unmarshal(doc.Data, &l); err != nil {
		return l, fmt.Errorf("decode customer link: %w", err)
	}
	return l, nil
}

// putLink writes a link document whatever its version (a phone number's link has one writer
// value: the key of its BSUID).
func putLink(ctx context.Context, docs store.Docs, id string, data []byte, ttl time.Duration) error {
	for range 5 {
		var version int64
		doc, err := docs.GetDoc(ctx, LinksCollection, id)
		switch {
		case err == nil:
			version = doc.Version
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("get customer link: %w", err)
		}
		_, err = docs.PutDoc(ctx, LinksCollection, id, data, version, ttl)
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrExists) {
			continue
		}
		if err != nil {
			return fmt.Errorf("put customer link: %w", err)
		}
		return nil
	}
	return fmt.Errorf("put customer link: %w", store.ErrConflict)
}
