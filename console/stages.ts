import type { SessionStage } from './db/schema.js';

/** Where a session in each stage of signing in goes next. */
export function nextPage(stage: SessionStage): string {
  switch (stage) {
    case 'second-factor':
      return '/login/second-factor';
    case 'password-change':
      return '/login/new-password';
    case 'totp-enrolment':
      return '/login/enrol';
    case 'active':
      return '/';
  }
}
