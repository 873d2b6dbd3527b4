/** A refusal to be shown to the user as it is: the page's own checks and decoded contract errors. */
export class Refusal extends Error {}
