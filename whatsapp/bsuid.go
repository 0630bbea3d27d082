package whatsapp

import "regexp"

// Business-scoped user ids (BSUIDs) identify a WhatsApp user to one business portfolio. Users who
// adopt a username (from 2026) may write without their phone number: the webhook then carries the
// BSUID and no wa_id, and a reply must address the BSUID.
//
// What this package relies on, from Meta's "Business-scoped user IDs" page of the WhatsApp
// Business Platform documentation (developers.facebook.com/documentation/business-messaging/
// whatsapp/business-scoped-user-ids) and partners' summaries of it:
//   - the format: a two-letter ISO country code, a period, up to 128 alphanumeric characters
//     ("US.13491208655302741918"); a parent BSUID has "ENT." after the country code
//     ("US.ENT.11815799212886844830");
//   - messages webhooks: contacts[].user_id (always), contacts[].wa_id and messages[].from only
//     when Meta may share the phone number, messages[].from_user_id, contacts[].profile.username;
//   - status webhooks: statuses[].recipient_user_id;
//   - POST /messages: "recipient" takes a BSUID (or parent BSUID) in place of "to"; when both are
//     given "to" wins; the response's contacts[] then has user_id instead of wa_id.
//
// Meta's published OpenAPI document (v23.0) predates BSUIDs and has none of these fields.
var bsuidRE = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$`)

// IsBSUID reports whether s has the form of a business-scoped user id rather than a phone number.
func IsBSUID(s string) bool { return bsuidRE.MatchString(s) }
