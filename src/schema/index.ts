import { builder } from "../builder.js";
import "./errors.js";
import "./user.js";
import "./member.js";
import "./invite.js";
import "./link-invite.js";
import "./organization.js";

// Declared order is kept (sortSchema: false): MemberRole must read highest first.
export const schema = builder.toSchema({ sortSchema: false });
