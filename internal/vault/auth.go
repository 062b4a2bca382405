package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"

	"github.com/prism-agent/prism-agent/internal/secret"
)

// Backoff between attempts while Vault is unreachable or refuses a login:
// exponential with jitter, capped so that a returning Vault is noticed
// within seconds, and never giving up.
const (
	backoffInitial = 100 * time.Millisecond
	backoffMax     = 5 * time.Second
)

func newBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(backoffInitial),
		backoff.WithMaxInterval(backoffMax),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
}

// appRole holds the agent's AppRole credentials. The secret id stays in
// memory for the agent's lifetime because a wrapping token can be unwrapped
// only once, and every later login needs the secret id again.
type appRole struct {
	auth *approle.AppRoleAuth
	anon *api.Client // no token: logins must not send a stale one
}

// authenticate obtains the first token: the static token, looked up, or an
// AppRole login.
func (c *Client) authenticate(ctx context.Context) error {
	if c.cfg.Token != "" {
		return c.useStaticToken(ctx)
	}

	anon, err := maintenanceClient(c.base, "")
	if err != nil {
		return err
	}
	secretID := c.cfg.SecretID
	if c.cfg.WrappedSecretID != "" {
		err := c.retry(ctx, "vault secret id unwrap", func(ctx context.Context) error {
			id, err := c.unwrapSecretID(ctx)
			secretID = id
			return err
		})
		if err != nil {
			return err
		}
	}
	auth, err := approle.NewAppRoleAuth(c.cfg.RoleID, &approle.SecretID{FromString: secretID},
		approle.WithMountPath(c.cfg.AppRoleMount))
	if err != nil {
		return errors.New("vault AppRole login: the role id or secret id is empty")
	}
	c.login = &appRole{auth: auth, anon: anon}
	return c.retry(ctx, "vault login", func(ctx context.Context) error {
		return c.loginOnce(ctx, "start", nil)
	})
}

// maintenanceClient returns a client for the token's own upkeep (logins,
// renewals). It makes no HTTP-level retries: the callers have their own
// backoff, and a renewal that Vault refuses must lead to a new login at
// once, while the old token still works.
func maintenanceClient(base *api.Client, token string) (*api.Client, error) {
	cl, err := withToken(base, token)
	if err != nil {
		return nil, err
	}
	cl.SetMaxRetries(0)
	return cl, nil
}

// retry runs fn until it succeeds, fails for a reason other than Vault
// being unavailable, or ctx is done.
func (c *Client) retry(ctx context.Context, what string, fn func(context.Context) error) error {
	b := newBackoff()
	for attempt := 1; ; attempt++ {
		rctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
		err := fn(rctx)
		cancel()
		if err == nil || !retryable(err) {
			return err
		}
		wait := b.NextBackOff()
		c.log.Warn("vault unreachable, retrying", slog.String("operation", what),
			slog.Int("attempt", attempt), slog.Duration("retry_in", wait),
			slog.String("error", err.Error()))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s: giving up: %w", what, err)
		case <-t.C:
		}
	}
}

// retryable reports whether err means Vault could not be reached or is
// not serving, as opposed to Vault refusing the request.
func retryable(err error) bool {
	return errors.Is(err, secret.ErrUnavailable) && !errors.Is(err, ErrInvalidToken)
}

// unwrapSecretID exchanges the wrapping token for the secret id it wraps.
func (c *Client) unwrapSecretID(ctx context.Context) (string, error) {
	// Unwrap sets the wrapping token on a client without token, so it gets
	// a client of its own.
	cl, err := maintenanceClient(c.base, "")
	if err != nil {
		return "", err
	}
	s, err := cl.Logical().UnwrapWithContext(ctx, c.cfg.WrappedSecretID)
	if err != nil {
		if e := classify("unwrapping the AppRole secret id", ctx, err); retryable(e) {
			return "", e
		}
		return "", errors.New("unwrapping the AppRole secret id: the wrapping token is " +
			"invalid, expired or already used")
	}
	if s == nil || s.Data == nil {
		return "", errors.New("unwrapping the AppRole secret id: the wrapping token wraps no data")
	}
	id, _ := s.Data["secret_id"].(string)
	if id == "" {
		return "", errors.New("unwrapping the AppRole secret id: the wrapping token " +
			"does not wrap a secret id")
	}

	ttl := seconds(s.Data["secret_id_ttl"])
	uses := number(s.Data["secret_id_num_uses"])
	c.log.Info("vault approle secret id unwrapped",
		slog.Duration("secret_id_ttl", ttl), slog.Int64("secret_id_num_uses", uses))
	if ttl > 0 || uses > 0 {
		c.log.Warn("vault approle secret id is limited: logins fail once it expires or is used up",
			slog.Duration("secret_id_ttl", ttl), slog.Int64("secret_id_num_uses", uses))
	}
	return id, nil
}

// loginOnce logs in with AppRole and installs the new token. When expect
// is not nil and the current token is no longer expect's (another login
// won), it does nothing.
func (c *Client) loginOnce(ctx context.Context, reason string, expect *tokenState) error {
	select {
	case c.loginSem <- struct{}{}:
	case <-ctx.Done():
		return classify("vault login", ctx, ctx.Err())
	}
	defer func() { <-c.loginSem }()
	if expect != nil && c.current().gen != expect.gen {
		return nil
	}

	granted := time.Now()
	s, err := c.login.auth.Login(ctx, c.login.anon)
	if err != nil {
		c.stats.loginFailures.Add(1)
		if e := classify("vault login", ctx, err); retryable(e) {
			return e
		}
		return fmt.Errorf("vault login: AppRole credentials refused%s", statusSuffix(err))
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		c.stats.loginFailures.Add(1)
		return errors.New("vault login: the response carries no token")
	}
	cl, err := withToken(c.base, s.Auth.ClientToken)
	if err != nil {
		return err
	}
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	next := &tokenState{
		client:    cl,
		renewable: s.Auth.Renewable,
		ttl:       ttl,
		increment: ttl,
		granted:   granted,
	}
	first := true
	for {
		cur := c.current()
		if cur != nil {
			next.gen = cur.gen + 1
			first = false
		}
		if c.setState(cur, next) {
			break
		}
	}
	c.stats.logins.Add(1)
	if !first {
		c.stats.relogins.Add(1)
	}
	c.log.Info("vault login", slog.String("method", "approle"), slog.String("reason", reason),
		slog.Duration("ttl", ttl), slog.Bool("renewable", s.Auth.Renewable),
		slog.Any("policies", s.Auth.Policies))
	return nil
}

// useStaticToken installs the configured token and looks it up once to
// learn (and log) its TTL and policies.
func (c *Client) useStaticToken(ctx context.Context) error {
	cl, err := withToken(c.base, c.cfg.Token)
	if err != nil {
		return err
	}
	st := &tokenState{client: cl, granted: time.Now()}
	var s *api.Secret
	err = c.retry(ctx, "vault token lookup", func(ctx context.Context) error {
		st.granted = time.Now()
		var err error
		s, err = cl.Auth().Token().LookupSelfWithContext(ctx)
		return classify("looking up the vault token", ctx, err)
	})
	switch {
	case errors.Is(err, ErrInvalidToken):
		return fmt.Errorf("vault token: %w", ErrInvalidToken)
	case errors.Is(err, secret.ErrForbidden):
		// A token without the default policy may not look itself up; it can
		// still be used, but its lifetime is unknown, so it is not renewed.
		c.log.Warn("vault token lookup denied; the token is used without renewal")
	case err != nil:
		return err
	case s != nil:
		ttl, _ := s.TokenTTL()
		renewable, _ := s.TokenIsRenewable()
		policies, _ := s.TokenPolicies()
		st.ttl = ttl
		st.renewable = renewable && ttl > 0
		st.increment = seconds(s.Data["creation_ttl"])
		if st.increment <= 0 {
			st.increment = ttl
		}
		c.log.Info("vault token", slog.String("method", "token"), slog.Duration("ttl", ttl),
			slog.Bool("renewable", renewable), slog.Any("policies", policies))
		if ttl > 0 && !renewable {
			c.log.Warn("vault token is not renewable; the agent stops working when it expires",
				slog.Time("expires_at", st.expires()))
		}
	}
	c.setState(nil, st)
	return nil
}

// maintain keeps the token alive until Close: it renews at two thirds of
// the TTL, and (with AppRole) logs in again when renewal is refused, the
// token is not renewable, or its max TTL is reached.
func (c *Client) maintain() {
	defer close(c.done)
	for {
		st := c.current()
		if st.ttl == 0 || (c.login == nil && !st.renewable) {
			// Nothing to do until a request-driven login replaces the token.
			if !c.waitChange() {
				return
			}
			continue
		}

		due := st.granted.Add(st.ttl * 2 / 3)
		if c.login != nil && st.capped {
			due = time.Now()
		}
		if !c.sleep(max(0, time.Until(due))) {
			return
		}
		if c.current() != st || time.Now().Before(due) {
			continue
		}

		switch {
		case c.login != nil && st.capped:
			c.relogin("max ttl reached", st)
		case c.login != nil && !st.renewable:
			c.relogin("token not renewable", st)
		default:
			c.renew(st)
		}
	}
}

// sleep waits for d, or until the token changes. It returns false once
// the Client is closed.
func (c *Client) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.stop:
		return false
	case <-c.wake:
		return true
	case <-t.C:
		return true
	}
}

// waitChange waits until the token changes; false once the Client is
// closed.
func (c *Client) waitChange() bool {
	select {
	case <-c.stop:
		return false
	case <-c.wake:
		return true
	}
}

// stopCtx is a context canceled by Close, for the maintainer's requests.
func (c *Client) stopCtx() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RequestTimeout)
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (c *Client) renew(st *tokenState) {
	b := newBackoff()
	for attempt := 1; ; attempt++ {
		cl, err := maintenanceClient(c.base, st.client.Token())
		if err != nil {
			c.log.Error("vault token renewal impossible", slog.String("error", err.Error()))
			return
		}
		ctx, cancel := c.stopCtx()
		granted := time.Now()
		s, err := cl.Auth().Token().RenewSelfWithContext(ctx, int(st.increment/time.Second))
		if err == nil && (s == nil || s.Auth == nil) {
			err = errors.New("renewal response carries no token information")
		}
		serr := classify("renewing the vault token", ctx, err)
		cancel()
		if err == nil {
			c.renewed(st, s, granted)
			return
		}
		c.stats.renewalFailures.Add(1)
		if c.current().gen != st.gen {
			return // a login replaced the token meanwhile
		}

		switch {
		case c.login != nil && answered(err):
			// Vault is up but will not extend this token: refused, past its
			// max TTL (Vault reports that as a 500 and counts the max TTL
			// from a whole second, so it comes earlier than the local
			// estimate), or failing. A new login is the way forward.
			c.log.Info("vault token renewal refused; logging in again",
				slog.String("error", serr.Error()))
			c.relogin("renewal refused", st)
			return
		case c.login == nil && (!retryable(serr) || pastMaxTTL(err)):
			c.log.Error("vault token renewal refused; the agent stops working when it expires",
				slog.String("error", serr.Error()), slog.Time("expires_at", st.expires()))
			c.stopRenewing(st)
			return
		}
		if st.expired() {
			if c.login != nil {
				c.log.Warn("vault token expired while vault was unreachable; logging in again")
				c.relogin("token expired", st)
				return
			}
			c.log.Error("vault token expired while vault was unreachable")
			c.stopRenewing(st)
			return
		}
		wait := b.NextBackOff()
		c.log.Warn("vault token renewal failed, retrying", slog.Int("attempt", attempt),
			slog.Duration("retry_in", wait), slog.String("error", serr.Error()))
		if !c.sleep(wait) || c.current() != st {
			return
		}
	}
}

func (c *Client) renewed(st *tokenState, s *api.Secret, granted time.Time) {
	ttl := time.Duration(s.Auth.LeaseDuration) * time.Second
	next := *st
	next.ttl = ttl
	next.granted = granted
	next.renewable = s.Auth.Renewable
	// Vault grants less than the increment only when the token's max TTL
	// stops it (and says so in a warning); further renewals cannot extend
	// the token.
	next.capped = ttl < st.increment || mentions(s.Warnings, msgMaxTTLCapped)
	if ttl <= 0 {
		// The max TTL is (all but) reached; keep a tiny TTL so that the
		// token does not read as non-expiring.
		next.ttl = time.Millisecond
	}
	if !c.setState(st, &next) {
		return
	}
	c.stats.renewals.Add(1)
	c.log.Info("vault token renewed", slog.Duration("ttl", ttl),
		slog.Bool("max_ttl_reached", next.capped))
	if next.capped && c.login == nil {
		c.log.Warn("vault token reached its max TTL; the agent stops working when it expires",
			slog.Time("expires_at", next.expires()))
		c.stopRenewing(&next)
	}
}

// stopRenewing marks a static token as not renewable any more, so the
// maintainer stops trying.
func (c *Client) stopRenewing(st *tokenState) {
	next := *st
	next.renewable = false
	c.setState(st, &next)
}

// relogin logs in again until it succeeds or the Client is closed.
func (c *Client) relogin(reason string, st *tokenState) {
	b := newBackoff()
	for attempt := 1; ; attempt++ {
		ctx, cancel := c.stopCtx()
		err := c.loginOnce(ctx, reason, st)
		cancel()
		if err == nil {
			return
		}
		wait := b.NextBackOff()
		attrs := []any{slog.String("reason", reason), slog.Int("attempt", attempt),
			slog.Duration("retry_in", wait), slog.String("error", err.Error())}
		if retryable(err) {
			c.log.Warn("vault login failed, retrying", attrs...)
		} else {
			c.log.Error("vault login refused, retrying", attrs...)
		}
		if !c.sleep(wait) || c.current().gen != st.gen {
			return
		}
	}
}

// recoverToken is called when Vault rejected the token of st for a
// request: it logs in again (unless another caller already did) and
// returns the token to retry with.
func (c *Client) recoverToken(ctx context.Context, st *tokenState) (*tokenState, bool) {
	// After Close nobody would revoke a new token.
	if c.login == nil || c.closed.Load() {
		return nil, false
	}
	if err := c.loginOnce(ctx, "token rejected", st); err != nil {
		c.log.Warn("vault login after a rejected token failed", slog.String("error", err.Error()))
		return nil, false
	}
	cur := c.current()
	return cur, cur.gen != st.gen
}

// seconds reads a Vault duration field given in seconds.
func seconds(v any) time.Duration {
	return time.Duration(number(v)) * time.Second
}

func number(v any) int64 {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}
