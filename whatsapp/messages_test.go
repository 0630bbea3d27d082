package whatsapp

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestValidationNamesTheLimit(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	rows := func(n int) []Row {
		var rs []Row
		for i := range n {
			rs = append(rs, Row{ID: "r" + string(rune('a'+i)), Title: "Row"})
		}
		return rs
	}
	ok := []Button{{ID: "a", Title: "A"}}
	tests := []struct {
		name  string
		send  func(context.Context, *Client) error
		field string // ValidationError.Field, "" = valid
		limit string // substring of the message
	}{
		{"text at 4096 ok", func(ctx context.Context, c *Client) error {
			_, err := c.SendText(ctx, "1", long(4096), false)
			return err
		}, "", ""},
		{"text over 4096", func(ctx context.Context, c *Client) error {
			_, err := c.SendText(ctx, "1", long(4097), false)
			return err
		}, "text.body", "at most 4096 characters"},
		{"text counts characters not bytes", func(ctx context.Context, c *Client) error {
			_, err := c.SendText(ctx, "1", strings.Repeat("ع", 4096), false)
			return err
		}, "", ""},
		{"empty text", func(ctx context.Context, c *Client) error { _, err := c.SendText(ctx, "1", "", false); return err }, "text.body", "non-empty"},
		{"no recipient", func(ctx context.Context, c *Client) error { _, err := c.SendText(ctx, "", "hi", false); return err }, "to", ""},
		{"invalid utf-8", func(ctx context.Context, c *Client) error { _, err := c.SendText(ctx, "1", "\xff", false); return err }, "text.body", "UTF-8"},
		{"4 buttons", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", "b", []Button{{"a", "A"}, {"b", "B"}, {"c", "C"}, {"d", "D"}})
			return err
		}, "interactive.action.buttons", "1 to 3 buttons"},
		{"no buttons", func(ctx context.Context, c *Client) error { _, err := c.SendButtons(ctx, "1", "b", nil); return err }, "interactive.action.buttons", "1 to 3"},
		{"button title 21", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", "b", []Button{{"a", long(21)}})
			return err
		}, "interactive.action.buttons[0].reply.title", "at most 20 characters"},
		{"button title 20 ok", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", "b", []Button{{"a", long(20)}})
			return err
		}, "", ""},
		{"button id 257", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", "b", []Button{{long(257), "A"}})
			return err
		}, "interactive.action.buttons[0].reply.id", "at most 256"},
		{"duplicate button title", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", "b", []Button{{"a", "Same"}, {"b", "Same"}})
			return err
		}, "interactive.action.buttons[1].reply", "unique"},
		{"button body 1025", func(ctx context.Context, c *Client) error {
			_, err := c.SendButtons(ctx, "1", long(1025), ok)
			return err
		}, "interactive.body.text", "at most 1024"},
		{"11 rows across sections", func(ctx context.Context, c *Client) error {
			rs := rows(11)
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Title: "A", Rows: rs[:6]}, {Title: "B", Rows: rs[6:]}})
			return err
		}, "interactive.action.sections[].rows", "1 to 10 rows in all sections"},
		{"10 rows ok", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: rows(10)}})
			return err
		}, "", ""},
		{"row title 25", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: []Row{{ID: "x", Title: long(25)}}}})
			return err
		}, "interactive.action.sections[0].rows[0].title", "at most 24 characters"},
		{"row description 73", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: []Row{{ID: "x", Title: "t", Description: long(73)}}}})
			return err
		}, "interactive.action.sections[0].rows[0].description", "at most 72"},
		{"row id 201", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: []Row{{ID: long(201), Title: "t"}}}})
			return err
		}, "interactive.action.sections[0].rows[0].id", "at most 200"},
		{"duplicate row id", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: []Row{{ID: "x", Title: "t"}, {ID: "x", Title: "u"}}}})
			return err
		}, "interactive.action.sections[0].rows[1].id", "unique"},
		{"list button label 21", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", long(21), []Section{{Rows: rows(1)}})
			return err
		}, "interactive.action.button", "at most 20"},
		{"untitled sections when several", func(ctx context.Context, c *Client) error {
			rs := rows(2)
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Rows: rs[:1]}, {Title: "B", Rows: rs[1:]}})
			return err
		}, "interactive.action.sections[0].title", "non-empty"},
		{"11 sections", func(ctx context.Context, c *Client) error {
			var ss []Section
			for range 11 {
				ss = append(ss, Section{Title: "s"})
			}
			_, err := c.SendList(ctx, "1", "b", "Menu", ss)
			return err
		}, "interactive.action.sections", "1 to 10 sections"},
		{"section title 25", func(ctx context.Context, c *Client) error {
			_, err := c.SendList(ctx, "1", "b", "Menu", []Section{{Title: long(25), Rows: rows(1)}})
			return err
		}, "interactive.action.sections[0].title", "at most 24"},
		{"media with link and id", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: MediaImage, Link: "https://127.0.0.1/a.jpg", ID: "1"})
			return err
		}, "image", "exactly one of link or id"},
		{"media with neither", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: MediaVideo})
			return err
		}, "video", "exactly one"},
		{"audio caption", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: MediaAudio, ID: "1", Caption: "no"})
			return err
		}, "audio.caption", "no caption"},
		{"image filename", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: MediaImage, ID: "1", Filename: "a.jpg"})
			return err
		}, "image.filename", "only documents"},
		{"caption 1025", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: MediaDocument, ID: "1", Caption: long(1025)})
			return err
		}, "document.caption", "at most 1024"},
		{"sticker kind", func(ctx context.Context, c *Client) error {
			_, err := c.SendMedia(ctx, "1", Media{Kind: "sticker", ID: "1"})
			return err
		}, "type", "one of image"},
		{"template without name", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Language: "en"})
			return err
		}, "template.name", "non-empty"},
		{"template without language", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x"})
			return err
		}, "template.language.code", "set"},
		{"template empty body parameter", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x", Language: "en", BodyParams: []string{"a", ""}})
			return err
		}, "template body parameter 2", "non-empty"},
		{"template header parameter 61", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x", Language: "en", HeaderParams: []string{long(61)}})
			return err
		}, "template header parameter 1", "at most 60"},
		{"template 2 header parameters", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x", Language: "en", HeaderParams: []string{"a", "b"}})
			return err
		}, "template header parameters", "at most 1"},
		{"template 11 quick replies", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x", Language: "en", QuickReplyPayloads: strings.Split("a b c d e f g h i j k", " ")})
			return err
		}, "template quick-reply buttons", "at most 10"},
		{"template quick reply payload empty", func(ctx context.Context, c *Client) error {
			_, err := c.SendTemplate(ctx, "1", Template{Name: "x", Language: "en", QuickReplyPayloads: []string{"a", ""}})
			return err
		}, "template quick-reply payload 1", "non-empty"},
	}
	g := newGraph(t)
	c, _ := testClient(t, g.srv.URL, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.requests()
			err := tt.send(context.Background(), c)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("valid message refused: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want *ValidationError", err)
			}
			if ve.Field != tt.field || !strings.Contains(err.Error(), tt.limit) {
				t.Errorf("err = %q (field %q), want field %q and %q", err, ve.Field, tt.field, tt.limit)
			}
			if g.requests() != before {
				t.Error("an invalid message was sent")
			}
			if IsRetryable(err) {
				t.Error("validation errors must not be retryable")
			}
		})
	}
}
