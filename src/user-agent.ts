/** What the action calls itself in every AWS request it makes. */
export const USER_AGENT = 'ecr-push-action'
