// The card form: the browser hands the card to the payment gateway, which answers with a one-time
// token; only that token (and the holder's name) is submitted to Backstop. Card numbers never
// reach Backstop's server.
//
// Markup contract (no inline scripts or handlers: the site's content security policy forbids them;
// load this file with <script src="{% static 'billing/cardform.js' %}">, and Stripe.js from
// https://js.stripe.com/v3/ before it when the gateway is Stripe):
//
//   <form method="post" data-card-form
//         data-gateway="sandbox|stripe"            (the gateway's browser_config()["gateway"])
//         data-tokens-url="/sandbox/payments/tokens"   (sandbox: browser_config()["tokens_url"])
//         data-publishable-key="pk_…">                 (stripe: browser_config()["publishable_key"])
//     {% csrf_token %}
//     <input name="holder" data-field="holder">        the name on the card: submitted
//     <div data-card-fields>                           sandbox only (hidden for Stripe):
//       <input data-field="number">                      NO name attribute on these three,
//       <input data-field="exp" placeholder="MM/YY">     so the browser never submits them
//       <input data-field="cvc">                         (the script also strips any name)
//     </div>
//     <div data-stripe-card></div>                     Stripe only: the Card Element goes here
//                                                      (created after [data-card-fields] if absent)
//     <input type="hidden" name="token">               filled with the gateway's token
//     <div data-card-error role="alert" hidden></div>  the gateway's message is shown here
//     <button type="submit">Save card</button>
//   </form>
//
// On submit the script tokenises (sandbox: POST JSON {number, exp_month, exp_year, cvc, holder}
// to data-tokens-url, answer {"id": "tok_…"} or {"error": {"message": …}}; Stripe:
// stripe.createPaymentMethod with the Card Element, answer a "pm_…" id), puts the id in the
// hidden token input, clears the card inputs and submits the form again (htmx forms included).
(() => {
  "use strict";

  const SECRET_FIELDS = ["number", "exp", "cvc"];

  function field(form, name) {
    return form.querySelector(`[data-field="${name}"]`);
  }

  function showError(form, message) {
    const box = form.querySelector("[data-card-error]");
    if (box) {
      box.textContent = message;
      box.hidden = !message;
      box.classList.toggle("d-none", !message);
    } else if (message) {
      window.alert(message);
    }
  }

  function setBusy(form, busy) {
    form.querySelectorAll("button[type=submit], input[type=submit]").forEach((button) => {
      button.disabled = busy;
    });
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function parseExp(text) {
    const match = /^\s*(\d{1,2})\s*\/?\s*(\d{2}|\d{4})\s*$/.exec(text || "");
    if (!match) return null;
    let year = parseInt(match[2], 10);
    if (year < 100) year += 2000;
    return { month: parseInt(match[1], 10), year };
  }

  async function sandboxToken(form) {
    const exp = parseExp(field(form, "exp") && field(form, "exp").value);
    if (!exp) throw new Error("Enter the expiry date as MM/YY.");
    const url = form.dataset.tokensUrl;
    if (!url) throw new Error("The card form is not configured (no tokens URL).");
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        credentials: "omit", // the processor's API: no Backstop cookies
        body: JSON.stringify({
          number: (field(form, "number") || {}).value || "",
          exp_month: exp.month,
          exp_year: exp.year,
          cvc: (field(form, "cvc") || {}).value || "",
          holder: (field(form, "holder") || {}).value || "",
        }),
      });
    } catch (err) {
      throw new Error("The payment service could not be reached. Please try again.");
    }
    let answer = null;
    try {
      answer = await response.json();
    } catch (err) {
      answer = null;
    }
    if (answer && answer.id && response.ok) return answer.id;
    const message = answer && answer.error && answer.error.message;
    throw new Error(message || "The card could not be checked. Please try again.");
  }

  function stripeSetup(form) {
    if (typeof window.Stripe !== "function") {
      showError(form, "The card form could not load the payment service's script. Reload the page or try later.");
      setBusy(form, true);
      return null;
    }
    const key = form.dataset.publishableKey;
    if (!key) {
      showError(form, "The card form is not configured (no publishable key).");
      setBusy(form, true);
      return null;
    }
    const fields = form.querySelector("[data-card-fields]");
    if (fields) fields.hidden = true;
    let mount = form.querySelector("[data-stripe-card]");
    if (!mount) {
      mount = document.createElement("div");
      mount.setAttribute("data-stripe-card", "");
      mount.className = "form-control mb-3";
      if (fields) fields.after(mount);
      else form.prepend(mount);
    }
    mount.hidden = false;
    const stripe = window.Stripe(key);
    const card = stripe.elements().create("card", { hidePostalCode: true });
    card.mount(mount);
    card.on("change", (event) => showError(form, event.error ? event.error.message : ""));
    return { stripe, card };
  }

  async function stripeToken(form, setup) {
    const holder = (field(form, "holder") || {}).value || "";
    const result = await setup.stripe.createPaymentMethod({
      type: "card",
      card: setup.card,
      billing_details: holder ? { name: holder } : {},
    });
    if (result.error) throw new Error(result.error.message || "Your card was declined.");
    return result.paymentMethod.id;
  }

  const setups = new WeakMap(); // form -> {gateway, stripe}

  function init(form) {
    // Defence in depth: card details must never be submitted with the form.
    SECRET_FIELDS.forEach((name) => {
      const input = field(form, name);
      if (input) input.removeAttribute("name");
    });
    const gateway = form.dataset.gateway;
    const stripe = gateway === "stripe" ? stripeSetup(form) : null;
    const mount = form.querySelector("[data-stripe-card]");
    if (gateway !== "stripe" && mount) mount.hidden = true;
    setups.set(form, { gateway, stripe });
  }

  async function tokeniseAndSubmit(form) {
    const { gateway, stripe } = setups.get(form);
    const tokenInput = form.querySelector('input[name="token"]');
    if (!tokenInput) {
      showError(form, "The card form is not configured (no token input).");
      return;
    }
    showError(form, "");
    setBusy(form, true);
    try {
      let token;
      if (gateway === "sandbox") token = await sandboxToken(form);
      else if (gateway === "stripe" && stripe) token = await stripeToken(form, stripe);
      else throw new Error("The card form is not configured (unknown payment service).");
      tokenInput.value = token;
      SECRET_FIELDS.forEach((name) => {
        const input = field(form, name);
        if (input) input.value = "";
      });
      setBusy(form, false);
      form.dataset.tokenised = "1";
      if (typeof form.requestSubmit === "function") form.requestSubmit();
      else form.submit();
    } catch (err) {
      tokenInput.value = "";
      setBusy(form, false);
      showError(form, err && err.message ? err.message : "The card could not be saved.");
    }
  }

  // Captured on the document, so it runs before any listener on the form (htmx's included): the
  // form goes to Backstop only once it carries the token.
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target.closest ? event.target.closest("form[data-card-form]") : null;
      if (!form || !setups.has(form)) return;
      if (form.dataset.tokenised === "1") {
        delete form.dataset.tokenised; // our own resubmission: let it (or htmx) go
        return;
      }
      event.preventDefault();
      event.stopImmediatePropagation();
      tokeniseAndSubmit(form);
    },
    true,
  );

  function start() {
    document.querySelectorAll("form[data-card-form]").forEach((form) => {
      if (!setups.has(form)) init(form);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  // Forms swapped in by htmx get the same behaviour.
  document.addEventListener("htmx:load", start);
})();
