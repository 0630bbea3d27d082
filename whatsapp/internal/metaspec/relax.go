package metaspec

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// relax changes the raw component schemas (before merging; item 15 is relaxTemplateCreation) where Meta's document contradicts
// Meta's own examples and reference pages, and repairs the references its generator broke.
// Every change is listed here; nothing else of the document is touched.
//
// The /messages request body ("follow the examples"):
//  1. BaseMessageProperties requires recipient_type; six of the 49 message examples leave it out, and
//     the reference page says it is optional ("individual" by default).
//  2. LanguageObject requires policy; the template examples send only language.code.
//  3. A template button's index has the pattern ^[2-6, 11-14]$ (a character class, not a range),
//     which refuses the examples' "0"; its own description says "Position index of the button
//     (0-9)", and one example sends the number 0. Now: a string or integer from 0 to 9.
//  4. LocationMessage types latitude and longitude as strings; the examples send numbers.
//  5. MediaObject names only id and link (one of them); the examples send caption (document,
//     video) and filename (document) too. Now: id, link, caption, filename, with one of id and
//     link required.
//
// The webhook payload: the generator renamed the inbound message schemas with a suffix (_1, _2)
// where their names clashed with the outbound ones, but left the references on the old names, so
// an inbound message was checked against the outbound shape (messaging_product and to required,
// from refused). Each reference goes back to the schema its example belongs to:
//  6. IncomingMessage's oneOf and discriminator: TextMessage → TextMessage_2, and AudioMessage,
//     DocumentMessage, ImageMessage, LocationMessage, ReactionMessage, StickerMessage,
//     VideoMessage → their _1.
//  7. the inbound kinds' BaseMessageProperties → BaseMessageProperties_1 (from, id, timestamp).
//  8. ContactSharingMessage's contacts → ContactObject_1 (the inbound card: phone type MOBILE).
//  9. UnsupportedMessage's errors → ErrorObject_2 (code, title, message, error_data), not the
//     Graph error object (message, type, code).
//  10. InteractiveMessageReply's interactive object has a discriminator whose mapped schemas
//     (InteractiveButtonReplyContent, InteractiveListReplyContent) hold the button_reply and
//     list_reply objects; validators ignore a discriminator without oneOf, so the objects are
//     folded in: the interactive object has type and exactly one of button_reply, list_reply.
//
// Fields the document leaves out and Meta's webhook reference pages document (strict mode
// refuses fields the document does not name):
//  11. Pricing.type (regular, free_customer_service, free_entry_point): reference page
//     "webhooks/reference/messages/status", pricing object.
//  12. an inbound document's caption: reference page "webhooks/reference/messages/document".
//
// A message kind the document leaves out:
//  13. the call button (interactive type voice_call; action name voice_call with optional
//     parameters display_text ≤ 20, ttl_minutes 1–43200, payload ≤ 512), from Meta's Calling
//     API page "Send WhatsApp Call Button Messages and Deep Links". Its check is only as good
//     as this transcription of that page.
//
// Usernames (Meta's page "Business-scoped user IDs", 2026), which the v23 document predates:
//  14. a message may be sent to recipient (a BSUID) instead of to: one of them is required. An
//     inbound message may carry from_user_id instead of from, a contact user_id (and
//     parent_user_id) instead of wa_id and a profile username, a status recipient_user_id
//     instead of recipient_id.
//
// Template creation (POST /{WABA-ID}/message_templates), whose request schema was generated
// from one flow template example and names only name, language, category, components[].type,
// text and buttons (flow fields):
//  15. every field Meta's 11 template examples use is added: components[].format, example
//     (header_text, header_handle, body_text), add_security_recommendation,
//     code_expiration_minutes, and buttons[].url, phone_number, example, otp_type, autofill_text,
//     package_name, signature_hash, flow_json, flow_name; name, language, category and
//     components are required, as in every example.
func relax(schemas map[string]any) error {
	if err := dropRequired(schemas, "BaseMessageProperties", "recipient_type"); err != nil {
		return err
	}
	if err := dropRequired(schemas, "LanguageObject", "policy"); err != nil {
		return err
	}
	n := 0
	walk(schemas, func(m map[string]any) {
		props, _ := m["properties"].(map[string]any)
		idx, _ := props["index"].(map[string]any)
		if idx != nil && idx["pattern"] == "^[2-6, 11-14]$" {
			delete(idx, "pattern")
			idx["type"] = []any{"string", "integer"}
			idx["pattern"] = "^[0-9]$" // applies to the string form only
			idx["minimum"], idx["maximum"] = 0, 9
			n++
		}
	})
	if n == 0 {
		return fmt.Errorf("meta openapi: no button index pattern to relax (document changed?)")
	}
	loc := member(schemas, "LocationMessage", "location")
	if loc == nil {
		return fmt.Errorf("meta openapi: LocationMessage.location not found")
	}
	for _, k := range []string{"latitude", "longitude"} {
		p, _ := dig(loc, "properties")[k].(map[string]any)
		if p == nil {
			return fmt.Errorf("meta openapi: LocationMessage.location.%s not found", k)
		}
		p["type"] = "number"
	}
	media, _ := schemas["MediaObject"].(map[string]any)
	one, _ := media["oneOf"].([]any)
	if len(one) != 2 {
		return fmt.Errorf("meta openapi: MediaObject is no longer a oneOf of id and link")
	}
	props := map[string]any{"caption": map[string]any{"type": "string"}, "filename": map[string]any{"type": "string"}}
	for i, m := range one {
		mm, _ := m.(map[string]any)
		for k, v := range dig(mm, "properties") {
			props[k] = v
		}
		one[i] = map[string]any{"required": mm["required"]}
	}
	media["properties"] = props
	return repairInbound(schemas)
}

var inboundRenamed = map[string]string{
	"TextMessage": "TextMessage_2", "AudioMessage": "AudioMessage_1", "DocumentMessage": "DocumentMessage_1",
	"ImageMessage": "ImageMessage_1", "LocationMessage": "LocationMessage_1", "ReactionMessage": "ReactionMessage_1",
	"StickerMessage": "StickerMessage_1", "VideoMessage": "VideoMessage_1",
}

var inboundKinds = []string{"TextMessage_2", "AudioMessage_1", "DocumentMessage_1", "ImageMessage_1",
	"LocationMessage_1", "ReactionMessage_1", "StickerMessage_1", "VideoMessage_1", "ContactSharingMessage",
	"UnsupportedMessage", "ButtonMessage", "InteractiveMessageReply", "OrderMessage", "SystemMessage"}

func repairInbound(schemas map[string]any) error {
	in, _ := schemas["IncomingMessage"].(map[string]any)
	if in == nil {
		return fmt.Errorf("meta openapi: IncomingMessage not found")
	}
	retarget(in, inboundRenamed)
	for _, k := range inboundKinds {
		s, _ := schemas[k].(map[string]any)
		if s == nil {
			return fmt.Errorf("meta openapi: %s not found", k)
		}
		retarget(s, map[string]string{"BaseMessageProperties": "BaseMessageProperties_1"})
	}
	retarget(schemas["ContactSharingMessage"].(map[string]any), map[string]string{"ContactObject": "ContactObject_1"})
	retarget(schemas["UnsupportedMessage"].(map[string]any), map[string]string{"ErrorObject": "ErrorObject_2"})

	inter := member(schemas, "InteractiveMessageReply", "interactive")
	mapping := dig(inter, "discriminator", "mapping")
	if mapping == nil {
		return fmt.Errorf("meta openapi: InteractiveMessageReply.interactive has no discriminator mapping")
	}
	props := dig(inter, "properties")
	var one []any
	for _, k := range slices.Sorted(maps.Keys(mapping)) {
		ref, _ := mapping[k].(string)
		content, _ := schemas[strings.TrimPrefix(ref, componentRef)].(map[string]any)
		for name, p := range dig(content, "properties") {
			props[name] = p
		}
		one = append(one, map[string]any{"required": content["required"]})
	}
	delete(inter, "discriminator")
	inter["oneOf"] = one

	pricing := dig(schemas, "Pricing", "properties")
	if pricing == nil {
		return fmt.Errorf("meta openapi: Pricing has no properties")
	}
	pricing["type"] = map[string]any{"type": "string", "enum": []any{"regular", "free_customer_service", "free_entry_point"}}
	doc := member(schemas, "DocumentMessage_1", "document")
	all, _ := doc["allOf"].([]any)
	if len(all) != 2 {
		return fmt.Errorf("meta openapi: DocumentMessage_1.document is no longer allOf(media, filename)")
	}
	dig(all[1].(map[string]any), "properties")["caption"] = map[string]any{"type": "string"}
	if err := addCallButton(schemas); err != nil {
		return err
	}
	return addBSUID(schemas)
}

// addBSUID is item 14: field is added to component name, and one of alt and field is required.
func addBSUID(schemas map[string]any) error {
	str := map[string]any{"type": "string"}
	for _, c := range []struct{ name, alt, field string }{
		{"BaseMessageProperties", "to", "recipient"},
		{"BaseMessageProperties_1", "from", "from_user_id"},
		{"Statuses", "recipient_id", "recipient_user_id"},
	} {
		if err := dropRequired(schemas, c.name, c.alt); err != nil {
			return err
		}
		s := schemas[c.name].(map[string]any)
		dig(s, "properties")[c.field] = str
		s["anyOf"] = []any{map[string]any{"required": []any{c.alt}}, map[string]any{"required": []any{c.field}}}
	}
	contact := dig(schemas, "ContactProfile", "properties")
	profile := dig(contact, "profile", "properties")
	if contact == nil || profile == nil {
		return fmt.Errorf("meta openapi: ContactProfile.profile not found")
	}
	contact["user_id"], contact["parent_user_id"], profile["username"] = str, str, str
	return nil
}

func addCallButton(schemas map[string]any) error {
	typ, _ := dig(schemas, "InteractiveObject", "properties")["type"].(map[string]any)
	enum, _ := typ["enum"].([]any)
	action, _ := schemas["ActionObject"].(map[string]any)
	one, _ := action["oneOf"].([]any)
	if enum == nil || one == nil {
		return fmt.Errorf("meta openapi: InteractiveObject.type or ActionObject.oneOf not found")
	}
	typ["enum"] = append(enum, "voice_call")
	str := func(max int) map[string]any { return map[string]any{"type": "string", "maxLength": max} }
	action["oneOf"] = append(one, map[string]any{
		"required": []any{"name"},
		"properties": map[string]any{
			"name": map[string]any{"type": "string", "enum": []any{"voice_call"}},
			"parameters": map[string]any{"type": "object", "properties": map[string]any{
				"display_text": str(20),
				"ttl_minutes":  map[string]any{"type": "integer", "minimum": 1, "maximum": 43200},
				"payload":      str(512),
			}},
		},
	})
	return nil
}

// retarget rewrites $refs (and discriminator mappings) to components named in to.
func retarget(s map[string]any, to map[string]string) {
	walk(s, func(m map[string]any) {
		if ref, ok := m["$ref"].(string); ok {
			if n, ok := to[strings.TrimPrefix(ref, componentRef)]; ok && strings.HasPrefix(ref, componentRef) {
				m["$ref"] = componentRef + n
			}
		}
		if mp := dig(m, "discriminator", "mapping"); mp != nil {
			for k, v := range mp {
				ref, _ := v.(string)
				if n, ok := to[strings.TrimPrefix(ref, componentRef)]; ok && strings.HasPrefix(ref, componentRef) {
					mp[k] = componentRef + n
				}
			}
		}
	})
}

func dropRequired(schemas map[string]any, name, field string) error {
	s, _ := schemas[name].(map[string]any)
	req, _ := s["required"].([]any)
	i := slices.Index(req, any(field))
	if i < 0 {
		return fmt.Errorf("meta openapi: %s does not require %s (document changed?)", name, field)
	}
	s["required"] = slices.Delete(req, i, i+1)
	return nil
}

// member finds property prop in one of component name's allOf members.
func member(schemas map[string]any, name, prop string) map[string]any {
	s, _ := schemas[name].(map[string]any)
	all, _ := s["allOf"].([]any)
	for _, m := range all {
		mm, _ := m.(map[string]any)
		if p, ok := dig(mm, "properties")[prop].(map[string]any); ok {
			return p
		}
	}
	return nil
}

// walk calls fn on every JSON object under v.
func walk(v any, fn func(map[string]any)) {
	switch t := v.(type) {
	case map[string]any:
		fn(t)
		for _, x := range t {
			walk(x, fn)
		}
	case []any:
		for _, x := range t {
			walk(x, fn)
		}
	}
}

// relaxTemplateCreation is item 15 on the inline request schema of the templates path.
func relaxTemplateCreation(doc map[string]any) error {
	sch := dig(doc, "paths", TemplatesPath, "post", "requestBody", "content", "application/json", "schema")
	comp := dig(sch, "properties", "components", "items")
	btn := dig(comp, "properties", "buttons", "items")
	if sch == nil || comp == nil || btn == nil {
		return fmt.Errorf("meta openapi: template creation schema not found")
	}
	str := map[string]any{"type": "string"}
	strs := map[string]any{"type": "array", "items": str}
	cp := dig(comp, "properties")
	cp["format"] = str
	cp["example"] = map[string]any{"type": "object", "properties": map[string]any{
		"header_text": strs, "header_handle": strs,
		"body_text": map[string]any{"type": "array", "items": strs},
	}}
	cp["add_security_recommendation"] = map[string]any{"type": "boolean"}
	cp["code_expiration_minutes"] = map[string]any{"type": "integer"}
	bp := dig(btn, "properties")
	for _, k := range []string{"url", "phone_number", "otp_type", "autofill_text", "package_name", "signature_hash", "flow_json", "flow_name"} {
		bp[k] = str
	}
	bp["example"] = strs
	sch["required"] = []any{"name", "language", "category", "components"}
	return nil
}
