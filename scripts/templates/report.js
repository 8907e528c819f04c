document.addEventListener('click',function(e){
  var g=e.target;while(g&&!(g.getAttribute&&g.getAttribute('class')==='f'))g=g.parentNode;
  if(!g)return;var svg=g.ownerSVGElement;if(!svg)return;
  var vb=svg.viewBox.baseVal,W=vb.width,P=10,CW=7;
  var zx=+g.getAttribute('data-x'),zw=+g.getAttribute('data-w');
  var fs=svg.querySelectorAll('g.f');
  for(var i=0;i<fs.length;i++){
    var f=fs[i],x=+f.getAttribute('data-x'),w=+f.getAttribute('data-w');
    var a=Math.max(x,zx),b=Math.min(x+w,zx+zw);
    if(b-a<=1e-12){f.style.display='none';continue}
    f.style.display='';
    var px=P+(a-zx)/zw*(W-2*P),pw=(b-a)/zw*(W-2*P);
    var r=f.getElementsByTagName('rect')[0],t=f.getElementsByTagName('text')[0];
    r.setAttribute('x',px);r.setAttribute('width',pw);t.setAttribute('x',px+3);
    var n=f.getAttribute('data-n'),c=Math.floor((pw-6)/CW);
    t.textContent=c<3?'':(n.length<=c?n:n.substr(0,c-2)+'..');
  }
});
