// Entry: the token comes out of the address bar before anything renders, then the stream opens.
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { takeTokenFromUrl } from './api.ts';
import { App } from './App.tsx';
import { fleet } from './store.ts';
import './styles.css';

takeTokenFromUrl();
// The printed URL pasted into a tab that already shows the dashboard.
window.addEventListener('hashchange', takeTokenFromUrl);
fleet.connect();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
