// The report page's behaviour (inlined into report.html by html.py): search, filter by coarse
// class, sort, collapse, a category's rows on click, and map points that hide with the search.
// State lives in the URL's #fragment (q, coarse, sort, cat): a view can be shared, and the
// tests open one in headless Chromium.
(()=>{const D=JSON.parse(document.getElementById('c2f-data').textContent);
const $=s=>document.querySelector(s),$$=s=>[...document.querySelectorAll(s)];
const st=Object.fromEntries(new URLSearchParams(location.hash.slice(1)));
const q=$('#search'),cf=$('#coarse-filter'),so=$('#sort');
q.value=st.q||'';cf.value=st.coarse||'';so.value=st.sort||'size';
const low=t=>String(t).toLowerCase();
const catRows={};D.cats.forEach((c,i)=>catRows[c.id]=[]);
D.rows.forEach((r,i)=>catRows[D.cats[r[1]].id].push(i));
function esc(t){const d=document.createElement('span');d.textContent=t;return d.innerHTML}
function apply(){const term=low(q.value.trim()),coarse=cf.value,sort=so.value;
 const hits=[];if(term)D.rows.forEach((r,i)=>{if(low(r[0]).includes(term))hits.push(i)});
 const hitCats=new Set(hits.map(i=>D.cats[D.rows[i][1]].id));
 $$('details.coarse').forEach(d=>{const show=!coarse||d.dataset.coarse===coarse;d.hidden=!show;
  const body=d.querySelector('tbody');const trs=[...body.querySelectorAll('tr.cat')];
  trs.sort((a,b)=>sort==='name'?a.cells[1].textContent.localeCompare(b.cells[1].textContent):
   sort==='purity'?(+b.dataset.purity||0)-(+a.dataset.purity||0):
   (+b.dataset.size)-(+a.dataset.size));
  trs.forEach(tr=>body.appendChild(tr));let any=false;
  trs.forEach(tr=>{const ok=!term||low(tr.textContent).includes(term)||hitCats.has(tr.dataset.cat);
   tr.hidden=!ok;any=any||ok});if(term&&show)d.open=any;});
 const m=$('#matches');m.innerHTML='';if(term){const shown=hits.filter(i=>!coarse||
   D.coarse[D.rows[i][2]]===coarse);$('#match-count').textContent=shown.length+' rows match';
  shown.slice(0,200).forEach(i=>{const r=D.rows[i],c=D.cats[r[1]];const li=document.createElement('li');
   li.innerHTML=esc(r[0]).replace(new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g,'\\$&'),'gi'),
    x=>'<mark>'+x+'</mark>')+' <span class=muted>'+esc(c.id+' '+c.name)+'</span>';m.appendChild(li)})}
 else $('#match-count').textContent='';
 $$('#map-points circle').forEach(p=>{const r=D.rows[+p.dataset.row];
  p.style.display=(coarse&&D.coarse[r[2]]!==coarse)||(term&&!low(r[0]).includes(term))?'none':''});
 showCat(st.cat);const h=new URLSearchParams();if(q.value)h.set('q',q.value);
 if(coarse)h.set('coarse',coarse);if(sort!=='size')h.set('sort',sort);if(st.cat)h.set('cat',st.cat);
 history.replaceState(null,'','#'+h.toString());}
function showCat(id){const box=$('#rows');$$('tr.cat').forEach(t=>t.classList.toggle('chosen',t.dataset.cat===id));
 if(!id||!(id in catRows)){box.hidden=true;return}const c=D.cats.find(c=>c.id===id);box.hidden=false;
 $('#rows-title').textContent=c.id+' — '+c.name+' ('+catRows[id].length+' rows)';
 $('#rows-list').innerHTML=catRows[id].map(i=>'<li>'+esc(D.rows[i][0])+'</li>').join('');}
$$('tr.cat').forEach(tr=>tr.addEventListener('click',()=>{st.cat=tr.dataset.cat;apply();
 $('#rows').scrollIntoView({block:'nearest'})}));
$('#expand').onclick=()=>$$('details.coarse').forEach(d=>d.open=true);
$('#collapse').onclick=()=>$$('details.coarse').forEach(d=>d.open=false);
q.oninput=cf.onchange=so.onchange=apply;apply();})();
