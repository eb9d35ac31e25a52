import { createContext, useContext } from 'react';

/** The CSP nonce of this response; scripts without it do not run. */
export const NonceContext = createContext<string | undefined>(undefined);
export const useNonce = () => useContext(NonceContext);
