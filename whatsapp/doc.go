// Package whatsapp speaks Meta's WhatsApp Business Cloud API: a Client that sends template, text,
// interactive and media messages (validated against Meta's limits, rate limited, retried only when
// that cannot duplicate a message), typed and classified API errors, and a webhook receiver that
// verifies Meta's signature, parses events and hands them to a durable queue consumed with
// deduplication.
//
// The package never imports deflect: the queue, deduplication and token bucket it needs are small
// interfaces declared here and satisfied by deflect/store implementations.
package whatsapp
