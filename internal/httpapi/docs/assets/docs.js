// Starts Swagger UI on the agent's own OpenAPI document. It lives in a file
// of its own because the page's Content-Security-Policy forbids inline
// scripts. Paths are relative so that the page works behind a gateway that
// adds a path prefix.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "docs/openapi.yaml",
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: false,
    // No calls outside the agent: no online validator badge.
    validatorUrl: null,
    // Credentials typed into "Authorize" stay in this page's memory only.
    persistAuthorization: false,
    displayRequestDuration: true,
  });
});
