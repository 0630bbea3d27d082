package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/deflectd/deflectd/deflect"
	"github.com/deflectd/deflectd/deflect/templatesync"
)

// TemplateAdmin manages the WhatsApp templates through the gateway's own Graph API client and
// credentials (deflectd templates --gateway).
type TemplateAdmin interface {
	List(ctx context.Context) ([]templatesync.Row, error)
	Push(ctx context.Context) ([]templatesync.Action, error)
	Sync(ctx context.Context) ([]deflect.TemplateState, error)
}

// templateTimeout bounds a whole push or list: one Graph request per template language.
const templateTimeout = 2 * time.Minute

func (s *server) templatesRoutes(v1 *gin.RouterGroup) {
	admin := s.auth(ScopeAdmin)
	v1.GET("/templates", admin, s.templatesDo(func(ctx context.Context, t TemplateAdmin) (any, error) {
		rows, err := t.List(ctx)
		return gin.H{"templates": nonNil(rows)}, err
	}))
	v1.POST("/templates/push", admin, s.templatesDo(func(ctx context.Context, t TemplateAdmin) (any, error) {
		acts, err := t.Push(ctx)
		return gin.H{"actions": nonNil(acts)}, err
	}))
	v1.POST("/templates/sync", admin, s.templatesDo(func(ctx context.Context, t TemplateAdmin) (any, error) {
		changed, err := t.Sync(ctx)
		return gin.H{"changed": nonNil(changed)}, err
	}))
}

func (s *server) templatesDo(f func(context.Context, TemplateAdmin) (any, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		if s.o.Templates == nil {
			fail(c, http.StatusServiceUnavailable, "template management needs whatsapp.business_account_id (or the sandbox provider)")
			return
		}
		ctx, cancel := context.WithTimeout(c.Request.Context(), templateTimeout)
		defer cancel()
		out, err := f(ctx, s.o.Templates)
		switch {
		case errors.Is(err, templatesync.ErrMismatch):
			fail(c, http.StatusConflict, err.Error())
		case err != nil:
			s.log.Warn("templates: graph api failed", "err", err)
			fail(c, http.StatusBadGateway, err.Error())
		default:
			c.JSON(http.StatusOK, out)
		}
	}
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
