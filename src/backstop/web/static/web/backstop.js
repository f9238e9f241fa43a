// Behaviour shared by every page, kept out of the HTML so the content security policy can forbid
// inline handlers. A control marked data-autosubmit submits its form when it changes.
document.addEventListener("change", (event) => {
  const control = event.target.closest("[data-autosubmit]");
  if (control && control.form) control.form.requestSubmit();
});
